package wstrust

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"slices"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Client makes WS-Trust exchanges. It holds no state of its own, so a
// caller may build one per exchange from its settings; it is safe for
// concurrent use.
type Client struct {
	// HTTP posts the requests.
	HTTP *upstream.Client
	// Limits bound the parsing of replies.
	Limits xmldoc.Limits
	// Now and Rand feed the MessageID and the request's security header;
	// nil means the system clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// Logger gets two debug lines per exchange, never its content; nil
	// logs nothing.
	Logger *slog.Logger
}

// SecureFunc adds a request's credential to env (a Timestamp and a
// UsernameToken, or a signature with a key) and serialises it.
type SecureFunc func(env *soap.Envelope, o secure.Options) ([]byte, error)

// Request is one WS-Trust request.
type Request struct {
	// URL is the STS endpoint.
	URL *url.URL
	// Version is the WS-Trust version: the reply's payload is read in it.
	Version wssc.Version
	// SOAP is the envelope's version; the reply must be in it too.
	SOAP soap.Version
	// Addressing is the WS-Addressing version of the request's headers.
	// With wsa.None the request is not addressed, and the reply's action
	// and RelatesTo are not checked, having nothing to relate to.
	Addressing wsa.Version
	// Op names the operation ("Issue", "Renew", "Cancel") in logs and
	// errors.
	Op string
	// Action is the request's action; ReplyActions are those its reply
	// may carry.
	Action       string
	ReplyActions []string
	// Payload is the RequestSecurityToken, put in the Body as it is.
	Payload *etree.Element
	// Secure adds the request's credential and serialises the envelope.
	Secure SecureFunc
	// Open, when set, opens a reply protected by message security
	// (verifies its signature, decrypts its Body) and returns the plain
	// envelope, parsed with KeepSpans; it runs on the checked reply (not
	// a fault in clear, the version sent; with an error status too, which
	// a protected fault comes with) before its addressing is checked and
	// its payload read, so that nothing of an unverified reply is
	// trusted. Nil reads the reply as it came (TLS protected it).
	Open OpenFunc
}

// OpenFunc opens a protected reply: it returns the envelope once its
// protection is verified and removed, or an error saying why it cannot
// be trusted.
type OpenFunc func(reply *soap.Envelope) (*soap.Envelope, error)

// Parser reads the payload of a checked reply (the Body's one child) in
// WS-Trust version v, refusing one that is not a
// RequestSecurityTokenResponse or a collection of them in v's namespace:
// wssc.ParseResponse for a security context, saml.ParseResponse for an
// issued token. doc is the reply, parsed with KeepSpans.
type Parser[T any] func(doc *xmldoc.Doc, payload *etree.Element, v wssc.Version) (T, error)

// Exchange sends r with c and returns its reply's payload as parse reads
// it. The error is the *upstream.Error of a call that got no answer, the
// *soap.Fault the STS answered with, or what is wrong with the reply; it
// never carries the request's or the reply's content.
func Exchange[T any](ctx context.Context, c *Client, r Request, parse Parser[T]) (T, error) {
	var zero T
	env, err := c.exchange(ctx, r)
	if err != nil {
		return zero, err
	}
	payload, err := env.Payload()
	if err != nil {
		return zero, err
	}
	return parse(env.Doc, payload, r.Version)
}

// exchange sends r and returns the checked reply envelope.
func (c *Client) exchange(ctx context.Context, r Request) (*soap.Envelope, error) {
	if c.HTTP == nil || r.URL == nil || r.Payload == nil || r.Secure == nil {
		return nil, errors.New("wstrust: incomplete request: an upstream client, a URL, a payload and a credential are needed")
	}
	body, msgID, err := c.envelope(r)
	if err != nil {
		return nil, err
	}
	ct, action, err := r.SOAP.ContentType(r.Action)
	if err != nil {
		return nil, err
	}
	// Debug lines say what was exchanged, never its content: the request
	// carries a secret or a signature made with a key. How long it took is
	// measured on the wall clock, whatever clock stamps the messages.
	log := c.logger().With("endpoint", upstream.Redact(r.URL), "op", r.Op, "message_id", msgID)
	log.Debug("sending WS-Trust request", "bytes", len(body))
	start := time.Now()
	resp, err := c.HTTP.Post(ctx, upstream.Request{URL: r.URL, ContentType: ct, SOAPAction: action, Body: body})
	if err != nil {
		log.Debug("WS-Trust request failed", "error", err, "took", time.Since(start))
		return nil, err
	}
	log.Debug("WS-Trust answer", "status", resp.Status, "content_type", resp.ContentType, "bytes", len(resp.Body), "took", time.Since(start))
	env, err := c.reply(resp, r.SOAP)
	var clear *soap.Fault
	if r.Open != nil && errors.As(err, &clear) {
		// Read for what it says (a refused Renew falls back to an Issue),
		// but marked as what it is wherever it is shown.
		return nil, fmt.Errorf("unverified: a fault in clear, which message security cannot trust: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if r.Open != nil {
		opened, err := r.Open(env)
		if err != nil {
			if resp.Status != 200 {
				return nil, statusError(resp.Status, r.SOAP)
			}
			return nil, fmt.Errorf("the STS's reply cannot be trusted: %w", err)
		}
		// A fault may come protected (with HTTP 500, as SOAP over HTTP
		// sends faults), to be read once opened.
		if f, err := opened.Fault(); err != nil {
			return nil, fmt.Errorf("the STS answered with a malformed fault: %w", err)
		} else if f != nil {
			return nil, f
		}
		env = opened
	}
	if resp.Status != 200 {
		return nil, statusError(resp.Status, r.SOAP)
	}
	if err := checkAddressing(env, r, msgID); err != nil {
		return nil, err
	}
	return env, nil
}

// envelope writes r's envelope, addressed unless r.Addressing is None,
// and returns its bytes and MessageID ("" when not addressed). The
// MessageID is drawn from Rand before Secure runs.
func (c *Client) envelope(r Request) ([]byte, string, error) {
	env := soap.NewEnvelope(r.SOAP)
	env.Body.AddChild(r.Payload)
	var msgID string
	if r.Addressing != wsa.None {
		h, err := wsa.NewRequest(r.Addressing, r.Action, r.URL.String(), c.rand())
		if err != nil {
			return nil, "", err
		}
		if _, err := h.AddTo(env.Header, r.Addressing); err != nil {
			return nil, "", err
		}
		msgID = h.MessageID
	}
	body, err := r.Secure(env, secure.Options{Now: c.now(), Rand: c.rand()})
	if err != nil {
		return nil, "", err
	}
	return body, msgID, nil
}

// reply parses an STS answer: a SOAP envelope of the version sent, or a
// fault, which becomes the error (in whichever version and with whichever
// status it came: it says more than either). The caller checks the
// status, once a protected fault has had its chance to be opened.
func (c *Client) reply(r *upstream.Response, sent soap.Version) (*soap.Envelope, error) {
	mt, _, _ := mime.ParseMediaType(r.ContentType)
	if mt != soap.MediaType11 && mt != soap.MediaType12 {
		return nil, fmt.Errorf("the STS answered %s", upstream.NotSOAP(r, sent == soap.V12))
	}
	env, err := soap.ParseWith(r.Body, xmldoc.Options{Limits: c.Limits, KeepSpans: true})
	if err != nil {
		return nil, fmt.Errorf("the STS answered HTTP %d with a message scproxy cannot read: %w", r.Status, err)
	}
	if f, err := env.Fault(); err != nil {
		return nil, fmt.Errorf("the STS answered with a malformed fault: %w", err)
	} else if f != nil {
		return nil, f
	}
	if env.Version != sent {
		return nil, fmt.Errorf("the STS answered in %s to a %s request", env.Version, sent)
	}
	return env, nil
}

// statusError is an STS answer's HTTP status other than 200, with the
// setting that usually fixes it.
func statusError(status int, sent soap.Version) error {
	if hint := upstream.Hint(status, sent == soap.V12); hint != "" {
		return fmt.Errorf("the STS answered HTTP %d: %s", status, hint)
	}
	return fmt.Errorf("the STS answered HTTP %d", status)
}

// checkAddressing checks the addressing of a reply: its headers must be
// well formed and, when the request had a MessageID, an action present
// must be one r allows and a RelatesTo present must name the request.
func checkAddressing(env *soap.Envelope, r Request, msgID string) error {
	h, _, err := wsa.Read(env.Header)
	if err != nil {
		return err
	}
	if msgID == "" {
		return nil
	}
	if h.Action != "" && !slices.Contains(r.ReplyActions, h.Action) {
		return fmt.Errorf("reply action %q does not answer a WS-Trust %s %s request", h.Action, r.Version, r.Op)
	}
	if h.RelatesTo != "" && h.RelatesTo != msgID {
		return errors.New("the STS's reply relates to another request")
	}
	return nil
}

func (c *Client) now() func() time.Time {
	if c.Now == nil {
		return time.Now
	}
	return c.Now
}

func (c *Client) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
