package outbound

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/bridge"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// exchange is one application request on its way through the proxy.
type exchange struct {
	p      *Proxy
	r      *http.Request
	target *url.URL
	// hop is what the application sent (SOAP and WS-Addressing versions,
	// addressing headers, action) and what the upstream receives.
	hop bridge.Hop
	// sent is the request as last secured and forwarded.
	sent sealed
	// body is what the request's body holds of the proxy's budget.
	body charges
	// outcome is what the observer is told of the request.
	outcome Outcome
}

// ServeHTTP handles one application request.
func (p *Proxy) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.refuseConnect(rw, r)
		return
	}
	x := &exchange{p: p, r: r, body: charges{b: p.bodies}}
	defer x.release()
	w := &answerWriter{ResponseWriter: rw, x: x}
	defer x.observe(w)()
	x.hop.App.SOAP = versionHint(r)
	defer p.accessLog(x, w, p.clock())
	if err := x.serve(w); err != nil {
		var pe *proxyError
		if !errors.As(err, &pe) {
			pe = upstreamError(http.StatusInternalServerError, CodeInternal, "%v", err)
		}
		if errors.Is(context.Cause(r.Context()), errShuttingDown) {
			pe = upstreamError(http.StatusServiceUnavailable, CodeNoContext, "the proxy is shutting down: %v", pe.reason)
		}
		p.noteUpstreamFailure(x, pe)
		p.cfg.Logger.Warn("request failed", "path", logPath(r), "status", pe.status, "reason", pe.reason)
		x.noteFault(FaultOurs, pe.code.Local)
		pe.write(w, x.hop.App.SOAP)
	}
}

// versionHint guesses the application's SOAP version from the request's
// media type, for faults written before the envelope is read.
func versionHint(r *http.Request) soap.Version {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == soap.MediaType12 {
		return soap.V12
	}
	return soap.V11
}

// serve takes the request through the pipeline: read it, bridge it to the
// upstream's versions, secure it, forward it (and, when the securer
// recovers from the answer, secure and forward it once more), and answer
// with the reply unbridged.
func (x *exchange) serve(w http.ResponseWriter) error {
	p, r := x.p, x.r
	if r.Header.Get("Origin") != "" {
		return appError(http.StatusForbidden, CodeForbidden, "requests from web pages (Origin %q) are refused", r.Header.Get("Origin"))
	}
	if !p.router.hostAllowed(r) {
		return appError(http.StatusForbidden, CodeForbidden, "Host %q is not this proxy's loopback address", r.Host)
	}
	if h, ok := p.localHandler(r); ok {
		return serveLocal(w, r, h)
	}
	target, err := p.router.route(r)
	if err != nil {
		return err
	}
	x.target = target
	if r.Method == http.MethodGet && isMetadataQuery(r.URL.RawQuery) {
		return p.serveMetadata(w, r, target)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return appError(http.StatusMethodNotAllowed, CodeMethodNotAllow, "method %s: SOAP requests are POSTed", r.Method)
	}
	body, err := x.readBody(w)
	if err != nil {
		return err
	}
	m, err := x.readRequest(body)
	if err != nil {
		return err
	}
	if err := x.bridgeRequest(m); err != nil {
		return err
	}
	x.sent, err = p.sec.secure(r.Context(), x.target, session.Wire(x.hop.Upstream), m)
	if err != nil {
		return err
	}
	a, err := x.call(x.sent.body)
	if err != nil {
		return err
	}
	var again sealed
	if x.mayResend(a) {
		if again, err = p.sec.recover(r.Context(), x.sent, a.fault, a.context); err != nil {
			return err
		}
	}
	if again.body != nil {
		x.sent = again
		if a, err = x.call(again.body); err != nil {
			return err
		}
	}
	if a.fault == nil && x.sent.ctx != nil {
		x.sent.ctx.MarkAccepted()
	}
	return x.answer(w, a)
}

// mayResend reports whether the securer may act on a's fault by resending
// the request: not when the fault came in clear over plain HTTP under
// message security, where anyone on the path could have sent it in place
// of the answer to a request the service ran (unless the operator chose
// otherwise, MessageSecurity.ResendAfterClearFault). answerFault then
// drops the context the fault is about, for the next request.
func (x *exchange) mayResend(a *reply) bool {
	return !a.unverified || x.target.Scheme == "https" || x.p.cfg.Message.ResendAfterClearFault
}

// reply is an upstream answer, read: a SOAP message up to its payload, and
// the fault when it is one.
type reply struct {
	resp  *upstream.Response
	m     *splice.Message // nil for an empty one-way answer
	fault *soap.Fault
	// context is what the fault says of the context, by its shape.
	context wssc.ContextFault
	// unverified: a fault sent in clear where the profile protects every
	// answer (message security).
	unverified bool
}

// call forwards a prepared message and reads the answer, once the
// securer has opened it (verified and decrypted under message security):
// nothing of an answer that cannot be trusted is read.
func (x *exchange) call(body []byte) (*reply, error) {
	resp, err := x.forward(body)
	if err != nil {
		return nil, err
	}
	a := &reply{resp: resp}
	endpoint := upstream.Redact(x.target)
	if resp.Status < 200 || resp.Status > 599 {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with HTTP status %d, which is no final answer (200 to 599)", endpoint, resp.Status)
	}
	if len(resp.Body) == 0 && resp.Status >= 200 && resp.Status < 300 {
		return a, nil // one-way operation
	}
	if mt, _, _ := mime.ParseMediaType(resp.ContentType); mt != soap.MediaType11 && mt != soap.MediaType12 {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered %s", endpoint, upstream.NotSOAP(resp, x.hop.Upstream.SOAP == soap.V12))
	}
	plain, err := x.p.sec.open(x.sent, resp.Body)
	var clear *clearFault
	if errors.As(err, &clear) {
		plain, err, a.unverified = clear.body, nil, true
	}
	if err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a response that cannot be trusted: %v", endpoint, err)
	}
	if a.m, err = splice.Read(plain, splice.Options{Limits: x.p.limits, Payload: true}); err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a malformed message: %v", endpoint, err)
	}
	if name, ok := a.m.PayloadName(); ok && name == a.m.Env.Version.Name("Fault") {
		env, err := soap.Parse(plain, x.p.limits)
		if err == nil {
			a.fault, err = env.Fault()
		}
		if err == nil && a.fault != nil {
			a.context = wssc.ClassifyFault(a.fault, wssc.EnvelopeOf(env))
		}
		if err != nil || a.fault == nil {
			return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a malformed fault: %v", endpoint, err)
		}
	}
	return a, nil
}

func describeRequest(r *http.Request) string {
	if r.URL.IsAbs() {
		return upstream.Redact(r.URL)
	}
	return r.URL.Path
}

// readBody reads the request body under the cap (a larger body is 413),
// charging the proxy's budget for bodies in flight as the bytes arrive (a
// body that would go beyond it is 503, to retry later).
func (x *exchange) readBody(w http.ResponseWriter) ([]byte, error) {
	r, max := x.r, x.p.cfg.MaxBody
	if r.ContentLength > max {
		return nil, appError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, max)
	}
	// A body without a length grows to at most the limit (and a byte to
	// find its end), so that one of the largest size fits any budget over
	// the limit. The reader is given the connection's own writer, so that
	// a body over the limit closes the connection.
	n := r.ContentLength
	if n < 0 {
		n = max
	}
	raw := w
	if aw, ok := w.(*answerWriter); ok {
		raw = aw.ResponseWriter
	}
	body, err := upstream.ReadAllCharged(http.MaxBytesReader(raw, r.Body, max), n, x.body.charge)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errOverBudget):
		return nil, x.p.overBudget(w)
	case errors.As(err, &mbe):
		return nil, appError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is over the limit of %d bytes", max)
	case err != nil:
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "reading the request body: %v", err)
	}
	return body, nil
}

// Limits of what scproxy reads of an application's request: the
// Envelope, the Header with every block in it, and the Body's start tag.
// Real headers hold tens of elements and short strings (WCF's reader
// quotas refuse strings over 8192 characters by default). Under the
// general limits a 600 KB header of empty elements would cost 30 MB (the
// tree costs about 300 bytes per element), and a 3 MiB attribute 35 MB
// and 50 ms; the Body, never read, may be as large as MaxBody.
const (
	maxHeadElements = 1024
	maxHeadToken    = 64 << 10
)

// headLimits are the limits for reading an application's request.
func headLimits(l xmldoc.Limits) xmldoc.Limits {
	l.MaxElements, l.MaxTokenBytes = maxHeadElements, maxHeadToken
	return l
}

// readRequest reads the application's envelope up to its Body and checks
// it against the HTTP headers.
func (x *exchange) readRequest(body []byte) (*splice.Message, error) {
	v, action, err := soap.ActionFromHTTP(x.r.Header.Get("Content-Type"), x.r.Header.Get("SOAPAction"))
	if err != nil {
		return nil, appError(http.StatusUnsupportedMediaType, CodeBadRequest, "%v; SOAP 1.1 is sent as text/xml, SOAP 1.2 as application/soap+xml", err)
	}
	x.hop.App.SOAP = v
	m, err := splice.Read(body, splice.Options{Limits: headLimits(x.p.limits)})
	if err != nil {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "malformed SOAP request: %v", err)
	}
	if m.Env.Version != v {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "the Content-Type announces %s but the envelope is %s", v, m.Env.Version)
	}
	h, av, err := wsa.Read(m.Env.Header)
	if err != nil {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "malformed WS-Addressing headers: %v", err)
	}
	x.hop.App.Addressing, x.hop.Headers = av, h
	x.hop.Action = action
	if h.Action != "" {
		if action != "" && action != h.Action {
			return nil, appError(http.StatusBadRequest, CodeBadRequest, "the HTTP action %q differs from wsa:Action %q", action, h.Action)
		}
		x.hop.Action = h.Action
	}
	return m, nil
}

// securer protects bridged requests under one security profile. New
// chooses one for the configuration (Config.Security and Config.Profile),
// so that no request asks which profile is in use.
type securer interface {
	// secure secures m, the bridged request to target in the upstream's
	// versions up. A profile that resends (recover) leaves m as it was,
	// to secure it again.
	secure(ctx context.Context, target *url.URL, up session.Wire, m *splice.Message) (sealed, error)
	// recover answers the service's fault f (nil for an answer that is not
	// one), which says cf of the context, to request s: s secured anew, to
	// be resent once, or a sealed without a body when the answer is for
	// the application.
	recover(ctx context.Context, s sealed, f *soap.Fault, cf wssc.ContextFault) (sealed, error)
	// rejected notes fault f, which says cf of the context, to request s,
	// on its way to the application, so that what the service refused is
	// not used again.
	rejected(s sealed, f *soap.Fault, cf wssc.ContextFault)
	// status adds the profile's own part to st.
	status(st *Status)
	// open returns the body of the upstream's answer to request s as the
	// pipeline reads it: verified and decrypted under message security,
	// as it came under the profiles TLS protects. An error says why the
	// answer cannot be trusted.
	open(s sealed, body []byte) ([]byte, error)
}

// sealed is a request as its securer secured it, with what a resend
// needs. It is passed by value: a request's exchange stays on the stack.
type sealed struct {
	body []byte            // what is sent
	m    *splice.Message   // the bridged request, to secure again
	up   session.Wire      // the upstream's versions
	ep   *session.Endpoint // the endpoint whose context secured it, if any
	ctx  *session.Context  // that context
	sent *msgsec.Sent      // under ProfileMessage: what opening the answer needs
}

// newSecurer returns the securer of p's profile.
func newSecurer(p *Proxy) (securer, error) {
	switch {
	case p.cfg.Security == SecurityNone:
		return passThrough{}, nil
	case p.cfg.Profile == ProfileX509:
		return newCertSigner(p), nil
	case p.cfg.Profile == ProfileMessage:
		return newMessageSecurer(p)
	}
	return contextSecurer{p: p, seal: p.signContext}, nil
}

// passThrough forwards the bridged request as it is (SecurityNone).
type passThrough struct{}

func (passThrough) secure(_ context.Context, _ *url.URL, _ session.Wire, m *splice.Message) (sealed, error) {
	return sealed{body: m.Bytes(nil)}, nil
}
func (passThrough) recover(context.Context, sealed, *soap.Fault, wssc.ContextFault) (sealed, error) {
	return sealed{}, nil
}
func (passThrough) rejected(sealed, *soap.Fault, wssc.ContextFault) {}
func (passThrough) status(*Status)                                  {}
func (passThrough) open(_ sealed, body []byte) ([]byte, error)      { return body, nil }

// contextSecurer secures each request with its endpoint's security
// context and replaces the context when the service faults it. seal
// secures a request with a context as the profile does (ProfileSCOverTLS:
// signContext; ProfileMessage: a messageSealer's), unseal opens its
// answer (nil: taken as it came).
type contextSecurer struct {
	p      *Proxy
	seal   func(r sealed, c *session.Context) (sealed, error)
	unseal func(r sealed, body []byte) ([]byte, error)
	// describe adds the profile's protection to the status, if any.
	describe func(st *Status)
}

// newMessageSecurer returns the securer of ProfileMessage: the context
// securer, sealing and opening by message security.
func newMessageSecurer(p *Proxy) (securer, error) {
	m, err := newMessageSealer(p)
	if err != nil {
		return nil, err
	}
	return contextSecurer{p: p, seal: m.seal, unseal: m.open, describe: m.status}, nil
}

// secure signs the bridged request with the endpoint's current context.
func (s contextSecurer) secure(ctx context.Context, target *url.URL, up session.Wire, m *splice.Message) (sealed, error) {
	ep, err := s.p.Endpoint(target)
	if err != nil {
		return sealed{}, upstreamError(http.StatusServiceUnavailable, CodeNoContext, "%v", err)
	}
	ep.CountRequest()
	c, err := ep.Context(ctx, up)
	if err != nil {
		return sealed{}, fromUpstream(ep.URL(), err)
	}
	return s.seal(sealed{m: m, up: up, ep: ep}, c)
}

// open opens the answer to r as the profile says.
func (s contextSecurer) open(r sealed, body []byte) ([]byte, error) {
	if s.unseal == nil {
		return body, nil
	}
	return s.unseal(r, body)
}

// signContext signs request r with context c (ProfileSCOverTLS). The
// bridged envelope itself is left unchanged, so that it can be signed
// again for a resend.
func (p *Proxy) signContext(r sealed, c *session.Context) (sealed, error) {
	opts := p.contextOptions(r.ep)
	memo, err := c.Memo(headerKey{r.up.SOAP}, func() (any, error) {
		return secure.NewContextHeader(r.up.SOAP, c.Secure(), opts)
	})
	var h *secure.ContextHeader // nil: a token whose bytes defeat the template
	if err == nil {
		h = memo.(*secure.ContextHeader)
	}
	out, err := secure.SplicedContext(r.m, h, c.Secure(), opts, p.limits)
	if err != nil {
		return sealed{}, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
	}
	r.body, r.ctx = out, c
	return r, nil
}

// recover answers the faults that say the context must change, for the
// application: RenewNeeded renews the context, BadContextToken and its
// WCF variants establish a new one (so does a security fault about a
// context the service accepted before: see contextForgotten), and the
// request is signed again and resent, once. However many requests hit the fault together, one
// exchange with the STS is made for them (the endpoint replaces only the
// context the server rejected). Any other answer is left for answer, and
// never resent: operations are not known to be idempotent.
func (s contextSecurer) recover(ctx context.Context, r sealed, f *soap.Fault, cf wssc.ContextFault) (sealed, error) {
	if r.ctx == nil || f == nil {
		return sealed{}, nil
	}
	var (
		c   *session.Context
		err error
		how string
	)
	ep := r.ep
	switch forgotten(cf, r.ctx) {
	case wssc.ContextRenewNeeded:
		how = "renewed"
		c, err = ep.Renew(ctx, r.ctx)
	case wssc.ContextRejected:
		how = "re-established"
		c, err = ep.Reissue(ctx, r.ctx)
	default:
		return sealed{}, nil
	}
	if err != nil {
		return sealed{}, fromUpstream(ep.URL(), fmt.Errorf("after the service answered %s: %w", f.Error(), err))
	}
	again, err := s.seal(r, c)
	if err != nil {
		return sealed{}, err
	}
	ep.CountResend()
	s.p.cfg.Logger.Info("request resent with the context "+how, "endpoint", ep.URL(), "fault", f.Error(), "identifier", c.Identifier())
	return again, nil
}

// forgotten reads a security fault to a message secured with c: the
// service has forgotten the context (a restart) when it had accepted c
// before, so it is a rejection; a context never accepted is not retried,
// so that a service that refuses every message costs no establishment per
// request. Other classes are returned as they are.
func forgotten(cf wssc.ContextFault, c *session.Context) wssc.ContextFault {
	switch {
	case cf != wssc.ContextSecurityFault:
		return cf
	case c.Accepted():
		return wssc.ContextRejected
	}
	return wssc.ContextUsable
}

// rejected drops the context when a fault saying it is unusable reaches
// the application (met again after a resend), so that the next request
// establishes a new one.
func (s contextSecurer) rejected(r sealed, f *soap.Fault, cf wssc.ContextFault) {
	if r.ctx == nil || forgotten(cf, r.ctx) == wssc.ContextUsable {
		return
	}
	if r.ep.Invalidate(r.ctx) {
		s.p.cfg.Logger.Info("security context rejected by the service; the next request establishes a new one",
			"endpoint", r.ep.URL(), "identifier", r.ctx.Identifier(), "fault", f.Error())
	}
}

// status adds the profile's protection, if any: the endpoints report
// their contexts in Status.
func (s contextSecurer) status(st *Status) {
	if s.describe != nil {
		s.describe(st)
	}
}

// headerKey names a context's precomputed header for one SOAP version.
type headerKey struct{ soap soap.Version }

func (p *Proxy) contextOptions(ep *session.Endpoint) secure.ContextOptions {
	return secure.ContextOptions{
		Options:         secure.Options{Now: p.now, Rand: p.rand, IDPrefix: p.idPrefix},
		SignatureMethod: ep.SignatureMethod(),
		Derive:          p.cfg.DerivedKeys,
	}
}

// forward posts the prepared message to the upstream.
func (x *exchange) forward(body []byte) (*upstream.Response, error) {
	ct, soapAction, err := x.hop.Upstream.SOAP.ContentType(x.hop.Action)
	if err != nil {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "action: %v", err)
	}
	start := x.p.now()
	resp, err := x.p.clientFor(x.target).Post(x.r.Context(), upstream.Request{URL: x.target, ContentType: ct, SOAPAction: soapAction, Body: body})
	x.observeCall(start, err)
	if err != nil {
		return nil, fromUpstream(upstream.Redact(x.target), err)
	}
	return resp, nil
}

// answer returns the upstream's answer to the application in its own
// SOAP version.
func (x *exchange) answer(w http.ResponseWriter, a *reply) error {
	if a.m == nil {
		w.WriteHeader(a.resp.Status) // one-way operation
		return nil
	}
	if a.fault != nil {
		return x.answerFault(w, a)
	}
	if err := x.hop.Response(a.m); err != nil {
		return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: translating the response: %v", upstream.Redact(x.target), err)
	}
	ct, _, _ := x.hop.App.SOAP.ContentType("")
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(a.resp.Status)
	_, _ = w.Write(a.m.Bytes(nil))
	return nil
}

// answerFault passes a service fault to the application: unchanged when
// the service speaks the application's SOAP version (header blocks,
// every Reason text, Detail and Node as sent; only the bridge's own
// header changes apply), rebuilt in the application's version otherwise.
// The securer notes the fault first (a context the service rejected is
// dropped).
func (x *exchange) answerFault(w http.ResponseWriter, a *reply) error {
	f := a.fault
	x.p.sec.rejected(x.sent, f, a.context)
	if a.unverified {
		// As WCF's client refuses an unsecured fault: the application
		// learns what the service said, marked as unverified, in a fault
		// of scproxy's.
		endpoint := upstream.Redact(x.target)
		if x.sent.ctx != nil && !x.mayResend(a) && forgotten(a.context, x.sent.ctx) != wssc.ContextUsable {
			return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a fault it did not sign or encrypt, which message security cannot trust; unverified, it says: %v. "+
				"The next request gets a new security context; this one was not resent, since anyone on the network path can send such a fault in place of the answer to a request the service has run: "+
				"send it again if it is safe to repeat (resend-after-clear-fault resends such requests)", endpoint, f)
		}
		return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a fault it did not sign or encrypt, which message security cannot trust; unverified, it says: %v", endpoint, f)
	}
	x.noteFault(FaultUpstream, FaultKinds[a.context])
	status := a.resp.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	if a.m.Env.Version == x.hop.App.SOAP {
		if err := x.hop.Response(a.m); err == nil {
			ct, _, _ := x.hop.App.SOAP.ContentType("")
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			_, _ = w.Write(a.m.Bytes(nil))
			return nil
		}
	}
	writeFault(w, x.hop.App.SOAP, status, f)
	return nil
}
