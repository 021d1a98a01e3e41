package outbound

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wssc"
)

// certSigner secures messages under ProfileX509: each one gets a
// Timestamp, the certificate as a BinarySecurityToken and an RSA
// signature over the Timestamp and wsa:To (secure.WithCertificate). No
// context is established, so there is nothing to renew, resend or
// cancel; every message pays for an RSA signature, and the service for
// a certificate chain check. It counts the messages it signed per
// upstream endpoint, for Status.
type certSigner struct {
	cred secure.Certificate
	opts secure.Options
	max  int // distinct endpoints counted (Config.MaxEndpoints)

	mu     sync.Mutex
	counts map[string]int64
}

// otherEndpoints is where messages to endpoints past MaxEndpoints are
// counted: the table stays bounded whatever paths the applications use.
const otherEndpoints = "(other endpoints)"

func newCertSigner(p *Proxy) *certSigner {
	return &certSigner{
		cred: *p.cfg.Certificate, opts: secure.Options{Now: p.now, Rand: p.rand, IDPrefix: p.idPrefix},
		max: p.cfg.MaxEndpoints, counts: map[string]int64{},
	}
}

// secure signs the bridged request m with the configured certificate.
func (s *certSigner) secure(_ context.Context, target *url.URL, _ session.Wire, m *splice.Message) (sealed, error) {
	s.count(target)
	// WithCertificate adds the Security header to the tree in place; its
	// own serialisation lacks the Body, which splice never read, so the
	// message is written again around the Body's original bytes.
	if _, err := secure.WithCertificate(m.Env, s.cred, s.opts); err != nil {
		return sealed{}, upstreamError(http.StatusInternalServerError, CodeInternal, "signing the request with the certificate: %v", err)
	}
	return sealed{body: m.Bytes(nil)}, nil
}

// recover resends nothing: there is no context to replace.
func (*certSigner) recover(context.Context, sealed, *soap.Fault, wssc.ContextFault) (sealed, error) {
	return sealed{}, nil
}

// open takes the answer as it came: TLS protected it.
func (*certSigner) open(_ sealed, body []byte) ([]byte, error) { return body, nil }

// rejected keeps nothing to drop.
func (*certSigner) rejected(sealed, *soap.Fault, wssc.ContextFault) {}

// status reports the messages signed per endpoint.
func (s *certSigner) status(st *Status) { st.Signed = s.signed() }

// count records one message to target's endpoint.
func (s *certSigner) count(target *url.URL) {
	key, _ := endpointKey(target)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.counts[key]; !ok && len(s.counts) >= s.max {
		key = otherEndpoints
	}
	s.counts[key]++
}

// SignedCount is how many messages were signed for one upstream endpoint
// under ProfileX509.
type SignedCount struct {
	Endpoint string `json:"endpoint"`
	Requests int64  `json:"requests"`
}

// signed returns the counts sorted by endpoint.
func (s *certSigner) signed() []SignedCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SignedCount, 0, len(s.counts))
	for k, n := range s.counts {
		out = append(out, SignedCount{Endpoint: k, Requests: n})
	}
	slices.SortFunc(out, func(a, b SignedCount) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}
