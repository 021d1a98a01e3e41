package outbound

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
)

// exchange is one application request on its way through the proxy.
type exchange struct {
	p      *Proxy
	r      *http.Request
	target *url.URL
	app    appMessage
	// sent is what the upstream receives: its SOAP version, addressing and
	// action.
	sent   session.Wire
	action string
	ctx    *session.Context // nil when not securing
	ep     *session.Endpoint
	m      *splice.Message // the bridged request, kept to resend it
}

// appMessage is what the application sent.
type appMessage struct {
	soap       soap.Version
	addressing wsa.Version
	headers    wsa.Headers
}

// ServeHTTP handles one application request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{p: p, r: r}
	x.app.soap = versionHint(r)
	if err := x.serve(w); err != nil {
		var pe *proxyError
		if !errors.As(err, &pe) {
			pe = upstreamError(http.StatusInternalServerError, CodeInternal, "%v", err)
		}
		p.cfg.Logger.Warn("request failed", "path", r.URL.Path, "status", pe.status, "reason", pe.reason)
		pe.write(w, x.app.soap)
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

func (x *exchange) serve(w http.ResponseWriter) error {
	p, r := x.p, x.r
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", http.MethodPost)
		return appError(http.StatusMethodNotAllowed, CodeMethodNotAllow, "CONNECT is not supported: scproxy must see the SOAP message to secure it; send plain HTTP to the proxy")
	}
	if r.Header.Get("Origin") != "" {
		return appError(http.StatusForbidden, CodeForbidden, "requests from web pages (Origin %q) are refused", r.Header.Get("Origin"))
	}
	if !p.router.hostAllowed(r) {
		return appError(http.StatusForbidden, CodeForbidden, "Host %q is not this proxy's loopback address", r.Host)
	}
	if !r.URL.IsAbs() && r.URL.Path == StatusPath {
		return p.serveStatus(w, r)
	}
	target, ok := p.router.target(r)
	if !ok {
		return appError(http.StatusNotFound, CodeNoRoute, "no route for %s; configured routes: %s", describeRequest(r), p.routeList())
	}
	x.target = target
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return appError(http.StatusMethodNotAllowed, CodeMethodNotAllow, "method %s: SOAP requests are POSTed", r.Method)
	}
	body, err := readBody(w, r, p.cfg.MaxBody)
	if err != nil {
		return err
	}
	m, err := x.readRequest(body)
	if err != nil {
		return err
	}
	out, err := x.prepare(m)
	if err != nil {
		return err
	}
	a, err := x.call(out)
	if err != nil {
		return err
	}
	again, err := x.recover(a.fault)
	if err != nil {
		return err
	}
	if again != nil {
		if a, err = x.call(again); err != nil {
			return err
		}
	}
	if a.fault == nil && x.ctx != nil {
		markAccepted(x.ctx)
	}
	return x.answer(w, a)
}

// reply is an upstream answer, read: a SOAP message up to its payload, and
// the fault when it is one.
type reply struct {
	resp  *upstream.Response
	m     *splice.Message // nil for an empty one-way answer
	fault *soap.Fault
}

// call forwards a prepared message and reads the answer.
func (x *exchange) call(body []byte) (*reply, error) {
	resp, err := x.forward(body)
	if err != nil {
		return nil, err
	}
	a := &reply{resp: resp}
	endpoint := upstream.Redact(x.target)
	if len(resp.Body) == 0 && resp.Status >= 200 && resp.Status < 300 {
		return a, nil // one-way operation
	}
	if mt, _, _ := mime.ParseMediaType(resp.ContentType); mt != soap.MediaType11 && mt != soap.MediaType12 {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered HTTP %d with %q, not SOAP", endpoint, resp.Status, resp.ContentType)
	}
	if a.m, err = splice.Read(resp.Body, splice.Options{Limits: x.p.limits, Payload: true}); err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s answered with a malformed message: %v", endpoint, err)
	}
	if name, ok := a.m.PayloadName(); ok && name == a.m.Env.Version.Name("Fault") {
		env, err := soap.Parse(resp.Body, x.p.limits)
		if err == nil {
			a.fault, err = env.Fault()
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

func (p *Proxy) routeList() string {
	s := ""
	for i, rt := range p.router.routes {
		if i > 0 {
			s += ", "
		}
		s += rt.Prefix
	}
	return s
}

// readBody reads the request body under the cap; a larger body is 413.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, appError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body of %d bytes is over the limit of %d (--max-body)", r.ContentLength, max)
	}
	body, err := upstream.ReadAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, appError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is over the limit of %d bytes (--max-body)", max)
	case err != nil:
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "reading the request body: %v", err)
	}
	return body, nil
}

// readRequest reads the application's envelope up to its Body and checks
// it against the HTTP headers.
func (x *exchange) readRequest(body []byte) (*splice.Message, error) {
	v, action, err := soap.ActionFromHTTP(x.r.Header.Get("Content-Type"), x.r.Header.Get("SOAPAction"))
	if err != nil {
		return nil, appError(http.StatusUnsupportedMediaType, CodeBadRequest, "%v; SOAP 1.1 is sent as text/xml, SOAP 1.2 as application/soap+xml", err)
	}
	x.app.soap = v
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
	x.app.addressing, x.app.headers = av, h
	x.action = action
	if h.Action != "" {
		if action != "" && action != h.Action {
			return nil, appError(http.StatusBadRequest, CodeBadRequest, "the HTTP action %q differs from wsa:Action %q", action, h.Action)
		}
		x.action = h.Action
	}
	return m, nil
}

// prepare bridges the envelope to the upstream's versions and secures it.
func (x *exchange) prepare(m *splice.Message) ([]byte, error) {
	cfg := &x.p.cfg
	x.sent.SOAP = x.app.soap
	if cfg.SOAP != 0 {
		x.sent.SOAP = cfg.SOAP
	}
	x.sent.Addressing = x.app.addressing
	if !cfg.Addressing.Auto {
		x.sent.Addressing = cfg.Addressing.Version
	}
	if carriesSecurity(m.Env.Header) {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "the request already carries a WS-Security header; scproxy adds its own and does not forward the application's")
	}
	if err := x.bridgeRequest(m); err != nil {
		return nil, err
	}
	if cfg.Security == SecurityNone {
		return m.Bytes(nil), nil
	}
	if x.p.certs != nil {
		return x.secureWithCertificate(m)
	}
	ep, err := x.p.Endpoint(x.target)
	if err != nil {
		return nil, upstreamError(http.StatusServiceUnavailable, CodeNoContext, "%v", err)
	}
	x.ep, x.m = ep, m
	ep.Stats().Requests.Add(1)
	c, err := ep.Context(x.r.Context(), x.sent)
	if err != nil {
		return nil, fromUpstream(ep.URL(), err)
	}
	return x.secure(c)
}

// secure signs the bridged request with context c. The bridged envelope
// itself is left unchanged, so that it can be signed again for a resend.
func (x *exchange) secure(c *session.Context) ([]byte, error) {
	x.ctx = c
	opts := x.p.contextOptions(x.ep)
	h, err := c.Memo(headerKey{x.sent.SOAP}, func() (any, error) {
		return secure.NewContextHeader(x.sent.SOAP, c.Secure(), opts)
	})
	if err != nil {
		// A token whose bytes defeat the template: sign a copy the long way.
		m, err := splice.Read(x.m.Bytes(nil), splice.Options{Limits: x.p.limits})
		if err != nil {
			return nil, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
		}
		tokens, err := secure.AddContext(m.Env, c.Secure(), opts)
		if err != nil {
			return nil, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
		}
		return m.Bytes(tokens), nil
	}
	block, err := h.(*secure.ContextHeader).AppendTo(make([]byte, 0, 2048), x.p.now())
	if err != nil {
		return nil, upstreamError(http.StatusInternalServerError, CodeInternal, "securing the request: %v", err)
	}
	return x.m.BytesWith(nil, block), nil
}

// recover answers the faults that say the context must change, for the
// application: RenewNeeded renews the context, BadContextToken and its
// WCF variants establish a new one (so does a security fault about a
// context the service accepted before: see contextForgotten), and the
// request is signed again and resent, once. However many requests hit the fault together, one
// exchange with the STS is made for them (the endpoint replaces only the
// context the server rejected). Any other answer is left for answer, and
// never resent: operations are not known to be idempotent.
func (x *exchange) recover(f *soap.Fault) ([]byte, error) {
	if x.ctx == nil || f == nil {
		return nil, nil
	}
	var (
		c   *session.Context
		err error
		how string
	)
	switch {
	case renewNeeded(f):
		how = "renewed"
		c, err = x.ep.Renew(x.r.Context(), x.ctx)
	case contextRejected(f), contextForgotten(f, x.ctx):
		how = "re-established"
		c, err = x.ep.Reissue(x.r.Context(), x.ctx)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fromUpstream(x.ep.URL(), fmt.Errorf("after the service answered %s: %w", f.Error(), err))
	}
	out, err := x.secure(c)
	if err != nil {
		return nil, err
	}
	x.ep.Stats().Resends.Add(1)
	x.p.cfg.Logger.Info("request resent with the context "+how, "endpoint", x.ep.URL(), "fault", f.Error(), "identifier", c.Identifier())
	return out, nil
}

// headerKey names a context's precomputed header for one SOAP version.
type headerKey struct{ soap soap.Version }

func (p *Proxy) contextOptions(ep *session.Endpoint) secure.ContextOptions {
	return secure.ContextOptions{
		Options:         secure.Options{Now: p.now, Rand: p.rand, IDPrefix: p.idPrefix},
		SignatureMethod: ep.SignatureMethod(),
	}
}

// forward posts the prepared message to the upstream.
func (x *exchange) forward(body []byte) (*upstream.Response, error) {
	ct, soapAction, err := x.sent.SOAP.ContentType(x.action)
	if err != nil {
		return nil, appError(http.StatusBadRequest, CodeBadRequest, "action: %v", err)
	}
	resp, err := x.p.clientFor(x.target).Post(x.r.Context(), upstream.Request{URL: x.target, ContentType: ct, SOAPAction: soapAction, Body: body})
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
	if err := x.bridgeResponse(a.m); err != nil {
		return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: translating the response: %v", upstream.Redact(x.target), err)
	}
	ct, _, _ := x.app.soap.ContentType("")
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(a.resp.Status)
	_, _ = w.Write(a.m.Bytes(nil))
	return nil
}

// answerFault passes a service fault to the application: unchanged when
// the service speaks the application's SOAP version (header blocks,
// every Reason text, Detail and Node as sent; only the bridge's own
// header changes apply), rebuilt in the application's version otherwise.
// A fault saying the context is unusable (met again after a resend) drops
// it, so that the next request establishes a new one.
func (x *exchange) answerFault(w http.ResponseWriter, a *reply) error {
	f := a.fault
	if x.ctx != nil && (contextRejected(f) || renewNeeded(f)) {
		if x.ep.Invalidate(x.ctx) {
			x.p.cfg.Logger.Info("security context rejected by the service; the next request establishes a new one",
				"endpoint", x.ep.URL(), "identifier", x.ctx.Identifier(), "fault", f.Error())
		}
	}
	status := a.resp.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	if a.m.Env.Version == x.app.soap {
		if err := x.bridgeResponse(a.m); err == nil {
			ct, _, _ := x.app.soap.ContentType("")
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			_, _ = w.Write(a.m.Bytes(nil))
			return nil
		}
	}
	writeFault(w, x.app.soap, status, f)
	return nil
}
