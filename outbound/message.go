package outbound

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// MessageSecurity configures ProfileMessage: the service policy's
// algorithm suite and protection order (DerivedKeys and SignatureMethod
// are Config's own). The bootstrap binding, with the service's
// certificate, is each route's Bootstrap.
type MessageSecurity struct {
	// Suite is msgsec.Basic256 (WCF's default) when its Name is empty.
	Suite msgsec.Suite
	// Order is the protection order; the zero value is WCF's default,
	// msgsec.SignBeforeEncryptAndEncryptSignature.
	Order msgsec.Order
	// ResendAfterClearFault resends a request after a fault in clear
	// over plain HTTP that says its context must change (RenewNeeded,
	// BadContextToken), once the context is renewed or replaced. Off, such
	// a request is not resent: anyone on the network path can send that
	// fault in place of the answer to a request the service has run, so
	// the resend could run it twice. The context is replaced all the same,
	// and the application gets a fault saying so. A protected fault (WCF
	// protects RenewNeeded) and any fault over HTTPS are resent either way.
	ResendAfterClearFault bool
}

// checkMessage requires what ProfileMessage needs: a known suite and
// order, WS-Addressing (unless the application's is kept), and for every
// route a bootstrap that protects the STS exchanges by message security.
func (c *Config) checkMessage() error {
	m := c.Message
	if m.Suite.Name != "" {
		if _, err := msgsec.SuiteByName(m.Suite.Name); err != nil {
			return &setting.Error{Field: "Message.Suite", Value: m.Suite.Name, Err: err}
		}
	}
	if m.Order < msgsec.SignBeforeEncryptAndEncryptSignature || m.Order > msgsec.EncryptBeforeSign {
		return setting.Errorf("Message.Order", m.Order.String(), "unknown protection order")
	}
	if !c.Addressing.Auto && c.Addressing.Version == wsa.None {
		return setting.Errorf("Addressing", "none", "profile message: an answer is tied to its request by wsa:RelatesTo, which needs WS-Addressing: give the service's version (1.0 for WCF's wsHttpBinding)")
	}
	for i, r := range c.Routes {
		b := r.Bootstrap
		if b == nil {
			b = c.Bootstrap
		}
		if _, ok := b.(session.MessageProtection); !ok {
			return setting.Errorf(fmt.Sprintf("Routes[%d].Bootstrap", i), "", "profile message: no bootstrap binding (with the service's certificate) for establishing security contexts with %s", r.Prefix)
		}
	}
	return nil
}

// messageProtection is the route's bootstrap as the protection of its
// STS exchanges under ProfileMessage, its Issues held to the route's
// establishment rate; nil under the other profiles.
func (p *Proxy) messageProtection(route *Route) session.MessageProtection {
	if !p.cfg.keepsContexts() || p.cfg.Profile != ProfileMessage {
		return nil
	}
	b, ok := p.bootstrapFor(route).(limitedBootstrap)
	if !ok {
		m, _ := p.bootstrapFor(route).(session.MessageProtection)
		return m
	}
	m, ok := b.Bootstrap.(session.MessageProtection)
	if !ok {
		return nil
	}
	return limitedProtection{MessageProtection: m, limit: b}
}

// limitedProtection holds a route's protected Issues to its
// establishment rate, as limitedBootstrap does the others.
type limitedProtection struct {
	session.MessageProtection
	limit limitedBootstrap
}

// Bootstrap protects an Issue when the route's bucket has a token.
func (l limitedProtection) Bootstrap(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	if err := l.limit.allow(); err != nil {
		return nil, nil, err
	}
	return l.MessageProtection.Bootstrap(ctx, env, o)
}

// MessageStatus is how the message profile protects messages.
type MessageStatus struct {
	Suite           string `json:"algorithm_suite"`
	Order           string `json:"protection_order"`
	DerivedKeys     bool   `json:"derived_keys"`
	SignatureMethod string `json:"signature_method"`
}

// status reports the profile's protection.
func (s *messageSealer) status(st *Status) {
	c := s.profile.Config()
	st.Message = &MessageStatus{Suite: c.Suite.Name, Order: c.Order.String(), DerivedKeys: c.DerivedKeys, SignatureMethod: c.SignatureMethod}
}

// messageSealer protects requests with their endpoint's context by
// message security (ProfileMessage) and opens the answers: the Body is
// read, signed and encrypted here, and in this profile only.
type messageSealer struct {
	p       *Proxy
	profile *msgsec.Profile
}

func newMessageSealer(p *Proxy) (*messageSealer, error) {
	suite := p.cfg.Message.Suite
	if suite.Name == "" {
		suite = msgsec.Basic256
	}
	prof, err := msgsec.New(msgsec.Config{
		Role: msgsec.Client, Version: p.cfg.SC, Suite: suite, SignatureMethod: p.cfg.SignatureMethod,
		Order: p.cfg.Message.Order, DerivedKeys: p.cfg.DerivedKeys,
		// Through p, so that a clock or source set on p later is used.
		Now: func() time.Time { return p.now() }, Rand: proxyRand{p},
		IDPrefix: p.idPrefix, Limits: p.limits,
	})
	if err != nil {
		return nil, err
	}
	return &messageSealer{p: p, profile: prof}, nil
}

// seal protects request r with context c. The bridged message stays as
// it was, to be protected again for a resend: its Body is read into a
// tree of its own.
func (s *messageSealer) seal(r sealed, c *session.Context) (sealed, error) {
	env, err := soap.Parse(r.m.Bytes(nil), s.p.limits)
	if err != nil {
		return sealed{}, appError(http.StatusBadRequest, CodeBadRequest, "malformed SOAP request body: %v", err)
	}
	if err := freshMessageID(env.Header, proxyRand{s.p}); err != nil {
		return sealed{}, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
	}
	sc := c.Secure()
	sent, err := s.profile.Protect(env, msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: sc.Token, Key: sc.Key, Include: true}}})
	if err != nil {
		return sealed{}, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
	}
	r.body, r.ctx, r.sent = sent.Bytes, c, sent
	return r, nil
}

// open verifies and decrypts the answer to request r, keyed by r's
// context or, during the rollover, the one it replaced, and returns it
// plain. A fault the service sent without protection (RenewNeeded,
// BadContextToken: the service may not know the key any more) is passed
// on as it came, to be classified like any fault; anything else that
// fails to open is refused, and nothing of it reaches the application.
func (s *messageSealer) open(r sealed, body []byte) ([]byte, error) {
	if r.sent == nil {
		return body, nil
	}
	env, err := soap.Parse(body, s.p.limits)
	if err != nil {
		return nil, err
	}
	if unprotectedFault(env) {
		return nil, &clearFault{body: body}
	}
	opened, err := s.profile.Open(env, msgsec.Expect{Request: r.sent, ContextKeys: func(id string) ([][]byte, error) {
		return responseKeys(r, id)
	}})
	if err != nil {
		return nil, err
	}
	if err := relateToApplication(opened.Envelope.Header, r.m.Env.Header); err != nil {
		return nil, err
	}
	unmark(opened.Envelope.Body)
	return opened.Envelope.Bytes(), nil
}

// freshMessageID gives the request in header a MessageID of the proxy's
// own, drawn for each message sent (a resend too). An answer is tied to
// its request by its signed RelatesTo alone: with the application's
// MessageID, which it may use again, an earlier answer of the same
// context, replayed, would pass for the answer to this request. The
// answer's RelatesTo is set back to the application's (open). A request
// without a MessageID keeps none.
func freshMessageID(header *etree.Element, rand io.Reader) error {
	if header == nil {
		return nil
	}
	_, v, err := wsa.Read(header)
	if err != nil || v == wsa.None {
		return err
	}
	ids := xmldoc.Children(header, v.Name("MessageID"))
	if len(ids) == 0 {
		return nil
	}
	id, err := wsa.NewMessageID(rand)
	if err != nil {
		return err
	}
	ids[0].Child = nil
	ids[0].SetText(id)
	return nil
}

// relateToApplication sets the RelatesTo of a verified answer, in header,
// to the MessageID of the application's request, in request (which
// freshMessageID replaced on the wire).
func relateToApplication(header, request *etree.Element) error {
	if header == nil || request == nil {
		return nil
	}
	app, _, err := wsa.Read(request)
	if err != nil || app.MessageID == "" {
		return err
	}
	_, v, err := wsa.Read(header)
	if err != nil || v == wsa.None {
		return err
	}
	for _, el := range xmldoc.Children(header, v.Name("RelatesTo")) {
		el.Child = nil
		el.SetText(app.MessageID)
	}
	return nil
}

// unmark removes the wsu:Id the service's protection gave the Body, so
// that the application gets its Body as a plain service would send it.
func unmark(body *etree.Element) {
	for _, a := range slices.Clone(body.Attr) {
		if a.Key == "Id" && a.NamespaceURI() == wss.NSWSU {
			body.RemoveAttr(a.FullKey())
		}
	}
}

// responseKeys are the keys of context id that may protect the answer to
// r: its own context's, and during the rollover the one it replaced.
func responseKeys(r sealed, id string) ([][]byte, error) {
	var keys [][]byte
	for _, c := range r.ep.ResponseKeys(r.ctx) {
		if c.Identifier() == id {
			keys = append(keys, c.Secure().Key)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the answer is keyed by context %q, which is not the request's or whose rollover has passed", msgsec.ErrUnknownContext, id)
	}
	return keys, nil
}

// clearFault is what open returns for a fault the service sent without
// protection: it is read for what it says of the context (WCF's service
// sends BadContextToken in clear once it has lost the context, which then
// gets replaced; whether the request is resent is exchange.mayResend's
// call), but it is not the service's verified answer, so it reaches the
// application only inside a fault of scproxy's saying so.
type clearFault struct{ body []byte }

func (*clearFault) Error() string {
	return "the service answered with a fault it did not sign or encrypt"
}

// unprotectedFault reports whether env's Body holds a fault in clear.
func unprotectedFault(env *soap.Envelope) bool {
	payload, err := env.Payload()
	return err == nil && payload != nil && xmldoc.NameOf(payload) == env.Version.Name("Fault")
}

// proxyRand reads the proxy's current randomness source.
type proxyRand struct{ p *Proxy }

func (r proxyRand) Read(b []byte) (int, error) { return r.p.rand.Read(b) }
