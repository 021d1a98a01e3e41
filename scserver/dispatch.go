package scserver

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// request is one SOAP request on its way through the server, and what the
// log line reports about it.
type request struct {
	now     time.Time
	version soap.Version // SOAP version to answer in
	env     *soap.Envelope
	wsa     wsa.Version
	headers wsa.Headers
	action  string

	op        string // issue, renew, cancel, echo
	context   string // Identifier concerned, when known
	principal string // who authenticated an Issue

	msg *messageRequest // the opened request, in the message-security profile
	raw []byte          // the request as received
}

// reply is an HTTP response ready to write.
type reply struct {
	status      int
	contentType string
	body        []byte
	rejection   *rejection
}

// ServeHTTP answers one SOAP request. Every failure is answered with a
// SOAP fault in the request's SOAP version (SOAP 1.2 when it cannot be
// told), with HTTP status 500 as WCF sends faults, or 405, 413 and 415
// for a request that is not a SOAP POST of acceptable size and type.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	s.stats.request()
	if status, ok := s.script.takeFailure(); ok {
		http.Error(w, "scserver: scripted failure", status)
		s.logRequest(r, &request{op: "scripted-failure"}, &reply{status: status}, began)
		return
	}
	if !delay(r, s.script.get().Delay) {
		s.logRequest(r, &request{op: "abandoned"}, &reply{status: 0}, began)
		return
	}
	req := &request{now: s.cfg.Now(), version: soap.V12}
	s.sweep(req.now)
	rep := s.strictHTTP(r)
	if rep == nil {
		rep = s.handle(w, r, req)
	}
	if rej := rep.rejection; rej != nil {
		s.stats.reject(rej.context, rej.code().Local, rej.fault.Reason)
	}
	w.Header().Set("Content-Type", rep.contentType)
	w.WriteHeader(rep.status)
	w.Write(rep.body)
	s.logRequest(r, req, rep, began)
}

// handle reads, dispatches and answers a request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, req *request) *reply {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return s.fault(req, rejectClass(soap.Sender, http.StatusMethodNotAllowed, "SOAP requests are POSTed; %s is not allowed", r.Method))
	}
	if rej := s.read(w, r, req); rej != nil {
		return s.fault(req, rej)
	}
	if s.msg != nil {
		if rej := s.openMessage(req); rej != nil {
			return s.fault(req, rej)
		}
	}
	payload, action, rej := s.dispatch(req)
	if rej != nil {
		return s.fault(req, rej)
	}
	return s.answer(req, action, payload)
}

// read parses the request into req: HTTP binding, envelope, addressing,
// action and mustUnderstand headers.
func (s *Server) read(w http.ResponseWriter, r *http.Request, req *request) *rejection {
	ct := r.Header.Get("Content-Type")
	hv, httpAction, err := soap.ActionFromHTTP(ct, r.Header.Get("SOAPAction"))
	if err != nil {
		if strings.HasPrefix(ct, soap.MediaType11) {
			req.version = soap.V11
		}
		return rejectClass(soap.Sender, http.StatusUnsupportedMediaType, "the content type is not a SOAP 1.1 or 1.2 one: %v", err)
	}
	req.version = hv
	body, err := upstream.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.Limits.MaxBytes)), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return rejectClass(soap.Sender, http.StatusRequestEntityTooLarge, "the message exceeds this server's limit of %d bytes", mbe.Limit)
		}
		return rejectClass(soap.Sender, http.StatusBadRequest, "reading the request: %v", err)
	}
	env, err := soap.ParseWith(body, xmldoc.Options{Limits: s.cfg.Limits})
	if err != nil {
		return parseRejection(err)
	}
	req.raw = body
	if env.Version != hv {
		return rejectClass(soap.VersionMismatch, http.StatusInternalServerError, "the content type announces %s but the envelope is %s", hv, env.Version)
	}
	req.env = env
	if req.headers, req.wsa, err = wsa.Read(env.Header); err != nil {
		return addressingRejection(env.Header, err)
	}
	if rej := s.strictAddressing(req); rej != nil {
		return rej
	}
	req.action = req.headers.Action
	switch {
	case req.action == "":
		req.action = httpAction
	case httpAction != "" && httpAction != req.action:
		return reject(addressingCode(req.wsa, "ActionMismatch"), "the WS-Addressing Action %q differs from the HTTP action %q", req.action, httpAction)
	}
	return s.checkMustUnderstand(req)
}

// addressingRejection answers addressing headers wsa.Read refused, with
// the fault of their own version (wsa.Read names none on failure): a
// missing Action is a required header, a duplicated header an invalid
// one (in 1.0 with WCF's InvalidCardinality subcode), anything else an
// invalid one.
func addressingRejection(header *etree.Element, err error) *rejection {
	v := addressingVersionOf(header)
	var dup *xmldoc.DuplicateError
	switch {
	case errors.Is(err, wsa.ErrNoAction):
		return reject(addressingCode(v, "MessageAddressingHeaderRequired"), "the WS-Addressing headers are invalid: %v", err)
	case errors.As(err, &dup) && v != wsa.V200408:
		rej := reject(addressingCode(v, "InvalidAddressingHeader"), "the WS-Addressing headers are invalid: %v", err)
		rej.fault.Subcodes = append(rej.fault.Subcodes, addressingCode(v, "InvalidCardinality"))
		return rej
	}
	return reject(addressingCode(v, "InvalidAddressingHeader"), "the WS-Addressing headers are invalid: %v", err)
}

// addressingVersionOf is the WS-Addressing version of the first header
// in either version's namespace, None when there is none.
func addressingVersionOf(header *etree.Element) wsa.Version {
	if header == nil {
		return wsa.None
	}
	for c := range header.ChildElementsSeq() {
		if v, ok := wsa.VersionOf(c.NamespaceURI()); ok {
			return v
		}
	}
	return wsa.None
}

// checkMustUnderstand refuses a header block targeted at this node with
// mustUnderstand set that the server does not process (SOAP 1.1 §4.2.3,
// SOAP 1.2 part 1 §5.2.3): it understands Security and the addressing
// headers.
func (s *Server) checkMustUnderstand(req *request) *rejection {
	v := req.version
	if req.env.Header == nil {
		return nil
	}
	for _, h := range req.env.Header.ChildElements() {
		val, ok := xmldoc.Attr(h, v.MustUnderstand())
		if !ok {
			continue
		}
		must, err := v.ParseMustUnderstand(val)
		if err != nil {
			return rejectClass(soap.Sender, http.StatusInternalServerError, "%v", err)
		}
		if !must || !targeted(h, v) || xmldoc.Is(h, wss.NameSecurity) || (req.wsa != wsa.None && h.NamespaceURI() == req.wsa.Namespace()) {
			continue
		}
		return rejectClass(soap.MustUnderstand, http.StatusInternalServerError, "header %s is not understood", xmldoc.NameOf(h))
	}
	return nil
}

// targeted reports whether a header block is for the ultimate receiver:
// no actor or role, or the next or ultimateReceiver role.
func targeted(h *etree.Element, v soap.Version) bool {
	role, ok := xmldoc.Attr(h, v.Role())
	if !ok || role == "" {
		return true
	}
	switch role {
	case "http://schemas.xmlsoap.org/soap/actor/next", soap.NS12 + "/role/next", soap.NS12 + "/role/ultimateReceiver":
		return true
	}
	return false
}

// dispatch routes by action: the WS-Trust bindings of each
// WS-SecureConversation version, else the echo service. It returns the
// reply payload and action.
func (s *Server) dispatch(req *request) (*etree.Element, string, *rejection) {
	if payload, action, rej, ok := s.tokenService(req); ok {
		return payload, action, rej
	}
	for _, v := range wssc.Versions {
		for _, op := range []wssc.Operation{wssc.Issue, wssc.Renew, wssc.Cancel} {
			if req.action != v.Action(op) {
				continue
			}
			req.op = strings.ToLower(op.String())
			if !slices.Contains(s.cfg.Versions, v) {
				return nil, "", reject(addressingCode(req.wsa, "ActionNotSupported"), "WS-SecureConversation %s is not enabled on this server (action %q)", v, req.action)
			}
			payload, rej := s.trust(req, v, op)
			return payload, v.ReplyAction(op), rej
		}
	}
	if !s.echoes(req.action) {
		return nil, "", reject(addressingCode(req.wsa, "ActionNotSupported"), "the action %q is not supported by this server", req.action)
	}
	req.op = "echo"
	payload, rej := s.echo(req)
	return payload, req.action + "Response", rej
}

// echoes reports whether action is one the echo service answers: a listed
// one, or when none are listed any action outside the WS-Trust and
// WS-SecureConversation namespaces (whose other operations, such as
// Validate or Amend, this server does not implement).
func (s *Server) echoes(action string) bool {
	if action == "" {
		return false
	}
	if len(s.cfg.EchoActions) > 0 {
		return slices.Contains(s.cfg.EchoActions, action)
	}
	for _, v := range wssc.Versions {
		if strings.HasPrefix(action, v.Trust()+"/") || strings.HasPrefix(action, v.SC()+"/") {
			return false
		}
	}
	return true
}

// answer writes payload as the Body of a reply with action.
func (s *Server) answer(req *request, action string, payload *etree.Element) *reply {
	env := soap.NewEnvelope(req.version)
	env.Body.AddChild(payload)
	if err := s.address(req, env, action); err != nil {
		return s.fault(req, rejectClass(soap.Receiver, http.StatusInternalServerError, "writing the reply: %v", err))
	}
	if req.msg != nil {
		rep, rej := s.protectAnswer(req, env)
		if rej != nil {
			return s.fault(req, rej)
		}
		return rep
	}
	return &reply{status: http.StatusOK, contentType: req.version.MediaType() + "; charset=utf-8", body: env.Bytes()}
}

// address adds the reply's WS-Addressing headers, in the request's
// version: Action, and RelatesTo naming the request's MessageID.
func (s *Server) address(req *request, env *soap.Envelope, action string) error {
	if req.wsa == wsa.None {
		return nil
	}
	h := wsa.Headers{Action: action, RelatesTo: req.headers.MessageID}
	_, err := h.AddTo(env.EnsureHeader(), req.wsa)
	return err
}

// fault renders a rejection in the request's SOAP version.
func (s *Server) fault(req *request, rej *rejection) *reply {
	env, err := rej.fault.Envelope(req.version)
	if err != nil {
		env, _ = soap.NewFault(soap.Receiver, "the fault could not be written").Envelope(req.version)
	}
	action := req.wsa.FaultAction()
	if _, _, ok := wssc.FaultOf(rej.code()); ok {
		action = sessionFaultAction
	}
	if err := s.address(req, env, action); err != nil {
		s.cfg.Logger.Warn("fault without addressing headers", "err", err)
	}
	body := env.Bytes()
	if renewNeeded(req, rej) {
		// As WCF's service sends it: protected by the context whose key
		// must be renewed, so that the client can trust that the message
		// was not processed (a fault in clear may be anyone's).
		rep, perr := s.protectAnswer(req, env)
		if perr != nil {
			s.cfg.Logger.Warn("RenewNeeded sent unprotected", "err", perr)
		} else {
			body = rep.body
		}
	}
	return &reply{status: rej.status, contentType: req.version.MediaType() + "; charset=utf-8", body: body, rejection: rej}
}

// renewNeeded reports a RenewNeeded fault to a message of the message
// profile that was opened with its context's key.
func renewNeeded(req *request, rej *rejection) bool {
	if req.msg == nil || req.msg.opened == nil || req.msg.verified == nil {
		return false
	}
	_, c, ok := wssc.FaultOf(rej.code())
	return ok && c == wssc.RenewNeeded
}

// logRequest writes the request's one log line. Reasons and identifiers
// are not secrets; keys and passwords never reach a request or a reply
// record.
func (s *Server) logRequest(r *http.Request, req *request, rep *reply, began time.Time) {
	attrs := []slog.Attr{
		slog.String("remote", r.RemoteAddr),
		slog.String("action", req.action),
		slog.String("op", req.op),
		slog.Int("status", rep.status),
		slog.Duration("took", time.Since(began)),
	}
	if req.version != 0 && req.env != nil {
		attrs = append(attrs, slog.String("soap", req.version.String()), slog.String("addressing", req.wsa.String()))
	}
	if req.context != "" {
		attrs = append(attrs, slog.String("context", req.context))
	}
	if req.principal != "" {
		attrs = append(attrs, slog.String("principal", req.principal))
	}
	attrs = append(attrs, req.msg.logAttrs()...)
	level := slog.LevelInfo
	if rej := rep.rejection; rej != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("fault", rej.code().Local), slog.String("reason", rej.fault.Reason))
		if req.context == "" && rej.context != "" {
			attrs = append(attrs, slog.String("context", rej.context))
		}
	}
	s.cfg.Logger.LogAttrs(r.Context(), level, "request", attrs...)
}

// echo verifies an application message and returns its payload renamed
// Response, the shape of a WCF operation reply.
func (s *Server) echo(req *request) (*etree.Element, *rejection) {
	ver, rej := s.verifyApplication(req)
	if rej != nil {
		return nil, rej
	}
	req.context = ver.Identifier
	payload, err := req.env.Payload()
	if err != nil {
		return nil, rejectClass(soap.Sender, http.StatusInternalServerError, "nothing to echo: %v", err).about(ver.Identifier)
	}
	return echoOf(payload), nil
}

// echoOf copies payload, renamed <name>Response, declaring on the copy
// every namespace binding in scope where payload was, so that its content
// (QName values included) reads the same outside the request.
func echoOf(payload *etree.Element) *etree.Element {
	out := payload.Copy()
	out.Tag += "Response"
	declared := map[string]bool{}
	for _, a := range out.Attr {
		switch {
		case a.Space == "xmlns":
			declared[a.Key] = true
		case a.Space == "" && a.Key == "xmlns":
			declared[""] = true
		}
	}
	scope := xmldoc.InScope(payload)
	for _, p := range slices.Sorted(maps.Keys(scope)) {
		if declared[p] || p == "xml" {
			continue
		}
		if p == "" {
			out.CreateAttr("xmlns", scope[p])
		} else {
			out.CreateAttr("xmlns:"+p, scope[p])
		}
	}
	return out
}

// verifyApplication runs VerifyMessage's checks, then the fault script's
// RenewNeeded, and counts the message against its context. A message
// signed with an X.509 certificate instead is checked as such, and one
// without any Security header passes when AllowUnsecured.
func (s *Server) verifyApplication(req *request) (*Verified, *rejection) {
	switch {
	case req.msg != nil:
		if req.msg.verified == nil {
			return nil, reject(codeInvalidSecurity, "an application message must be protected by a security context")
		}
		return s.countApplication(req, req.msg.verified)
	case s.cfg.AllowUnsecured && unsecured(req.env):
		return &Verified{}, nil
	case certificateSigned(req.env):
		return s.verifyCertificateMessage(req)
	}
	ver, rej := s.verifyContext(req.env, req.now, true, false)
	if rej == nil {
		ver.Timestamp, rej = s.checkTimestamp(ver.Signature, req.now)
		if rej != nil {
			rej.context = ver.Identifier
		}
	}
	if rej != nil {
		return nil, rej
	}
	return s.countApplication(req, ver)
}

// countApplication applies the fault script's RenewNeeded to a verified
// application message and counts it against its context.
func (s *Server) countApplication(req *request, ver *Verified) (*Verified, *rejection) {
	sc := s.script.get()
	err := s.store.update(ver.Identifier, req.now, func(sess *session) error {
		if !ver.PreviousKey {
			if why := sc.renewNeeded(sess.Messages, sess.KeyCreated, req.now); why != "" {
				return errors.New(why)
			}
			sess.Messages++
		}
		return nil
	})
	if err != nil {
		var ce *ContextError
		if errors.As(err, &ce) {
			return nil, badContext(ver.Version, ce)
		}
		return nil, reject(ver.Version.Fault(wssc.RenewNeeded), "%v", err).about(ver.Identifier)
	}
	s.stats.update(ver.Identifier, func(st *Stats, cs *ContextStats) {
		st.Verified++
		cs.Verified++
	})
	return ver, nil
}
