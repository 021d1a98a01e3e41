package scserver

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// MessageSecurity configures the message-security profile (WCF's
// wsHttpBinding in Message mode, a WS-SecurityPolicy symmetric binding
// whose protection token is the context): every request, the Issue
// included, must arrive signed and encrypted, and every answer but a
// fault is signed and encrypted by the server.
type MessageSecurity struct {
	// Certificate and Key are the service certificate, for which clients
	// encrypt the key of an Issue request; nil Certificate means a
	// generated one, written as service.pem beside the CA certificate
	// (see ServiceCertificate).
	Certificate *x509.Certificate
	Key         *rsa.PrivateKey
	// Suite is the algorithm suite; its zero value means msgsec.Basic256.
	Suite msgsec.Suite
	// SignatureMethod overrides the suite's symmetric signature
	// (dsig.HMACSHA256 for WCF's Basic256Sha256); empty keeps it.
	SignatureMethod string
	// Order is the protection order; the zero value is WCF's default.
	Order msgsec.Order
	// DerivedKeys requires, and answers with, DerivedKeyTokens
	// (RequireDerivedKeys, on in WCF); mutual10's Issue, keyed by the
	// certificates, has none either way.
	DerivedKeys bool
	// Bootstraps are the protections an Issue request may use. Empty means
	// username when Users are set and mutual when TrustedCAs is: anonymous,
	// which issues a context to anyone, must be listed. An Issue carrying
	// a client certificate is opened under the binding of the one of
	// mutual and mutual10 that is accepted; with both (a WCF endpoint has
	// one), under the symmetric binding, then the asymmetric one.
	Bootstraps []MessageBootstrap
	// NoCancel is WCF's requireCancellation=false (policy
	// MustNotSendCancel): issued tokens carry the sealed session state as
	// a cookie (Config.Cookie is implied) and a Cancel is refused.
	NoCancel bool
}

// withDefaults validates m against the rest of c and fills in its
// defaults.
func (m MessageSecurity) withDefaults(c Config) (MessageSecurity, error) {
	if m.Suite.Encryption == "" {
		m.Suite = msgsec.Basic256
	}
	if (m.Certificate == nil) != (m.Key == nil) {
		return m, errors.New("scserver: the service certificate and its key go together")
	}
	if m.Certificate != nil {
		pub, ok := m.Certificate.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&m.Key.PublicKey) {
			return m, errors.New("scserver: the service key is not the RSA key of the service certificate")
		}
	}
	if len(m.Bootstraps) == 0 {
		if len(c.Users) > 0 {
			m.Bootstraps = append(m.Bootstraps, BootstrapUsername)
		}
		if c.TrustedCAs != nil {
			m.Bootstraps = append(m.Bootstraps, BootstrapMutual)
		}
	}
	for _, b := range m.Bootstraps {
		switch {
		case !slices.Contains(MessageBootstraps, b):
			return m, fmt.Errorf("scserver: unknown message bootstrap %d", int(b))
		case b == BootstrapUsername && len(c.Users) == 0:
			return m, errors.New("scserver: the username message bootstrap needs Users")
		case (b == BootstrapMutual || b == BootstrapMutual10) && c.TrustedCAs == nil:
			return m, fmt.Errorf("scserver: the %s message bootstrap needs TrustedCAs", b)
		}
	}
	if len(m.Bootstraps) == 0 {
		return m, errors.New("scserver: the message-security profile accepts no bootstrap: list one, or set Users or TrustedCAs")
	}
	return m, nil
}

// messageService is the server's side of the message-security profile:
// per WS-SecureConversation version, a profile for the bootstrap leg
// (with SignatureConfirmation, as WCF's bootstrap bindings), one for the
// asymmetric binding of mutual10 when it is accepted (without derived
// keys or SignatureConfirmation), and one for the
// steady state (without SignatureConfirmation).
type messageService struct {
	cfg      MessageSecurity
	own      msgsec.Certificate
	certFile string
	boot     map[wssc.Version]*msgsec.Profile
	asym     map[wssc.Version]*msgsec.Profile // nil unless mutual10
	steady   map[wssc.Version]*msgsec.Profile
}

// newMessageService makes the profiles of c.Message, generating the
// service certificate when none is configured.
func newMessageService(c Config) (*messageService, error) {
	m := c.Message
	if m.Certificate == nil {
		cert, key, err := generateServiceCert()
		if err != nil {
			return nil, err
		}
		m.Certificate, m.Key = cert, key
	}
	ms := &messageService{
		cfg:    *m,
		own:    msgsec.Certificate{Cert: m.Certificate, Key: m.Key},
		boot:   map[wssc.Version]*msgsec.Profile{},
		steady: map[wssc.Version]*msgsec.Profile{},
	}
	if slices.Contains(m.Bootstraps, BootstrapMutual10) {
		ms.asym = map[wssc.Version]*msgsec.Profile{}
	}
	profile := func(v wssc.Version, confirm, asymmetric bool) (*msgsec.Profile, error) {
		// mutual10's asymmetric binding (WS-Security 1.0) is keyed by the
		// certificates: no derived keys, no SignatureConfirmation.
		derived := m.DerivedKeys && !asymmetric
		p, err := msgsec.New(msgsec.Config{
			Role: msgsec.Server, Version: v, Suite: m.Suite, SignatureMethod: m.SignatureMethod,
			Order: m.Order, DerivedKeys: derived, SignatureConfirmation: confirm && !asymmetric, Asymmetric: asymmetric,
			Freshness: wss.Freshness{MaxAge: c.TimestampValidity, Skew: c.Skew},
			Now:       c.Now, Rand: c.Rand, Limits: c.Limits,
		})
		if err != nil {
			return nil, fmt.Errorf("scserver: message security: %w", err)
		}
		return p, nil
	}
	var err error
	for _, v := range c.Versions {
		if ms.boot[v], err = profile(v, true, false); err != nil {
			return nil, err
		}
		if ms.steady[v], err = profile(v, false, false); err != nil {
			return nil, err
		}
		if ms.asym != nil {
			if ms.asym[v], err = profile(v, true, true); err != nil {
				return nil, err
			}
		}
	}
	return ms, nil
}

// ServiceCertificate returns the service certificate of the
// message-security profile and the PEM file holding it, or nil and "" when
// the profile is off.
func (s *Server) ServiceCertificate() (*x509.Certificate, string) {
	if s.msg == nil {
		return nil, ""
	}
	return s.msg.cfg.Certificate, s.msg.certFile
}

// MessageSettings returns the message-security settings in force, with
// every default filled in and without the service key, or nil when the
// profile is off.
func (s *Server) MessageSettings() *MessageSecurity {
	if s.msg == nil {
		return nil
	}
	m := s.msg.cfg
	m.Key = nil
	m.Bootstraps = slices.Clone(m.Bootstraps)
	return &m
}

// messageRequest is what opening a protected request established, and
// what protecting its answer takes.
type messageRequest struct {
	profile *msgsec.Profile
	opened  *msgsec.Opened
	// bootstrap is the protection of an Issue request (0 for a message
	// keyed by a context).
	bootstrap MessageBootstrap
	// principal is who the bootstrap authenticated, or the principal the
	// context was issued to.
	principal string
	// verified describes the context that keyed the message; nil for an
	// Issue.
	verified *Verified
}

// openMessage checks and decrypts a request in the message-security
// profile, replacing req's envelope with the plain one. An Issue must be
// protected by an accepted bootstrap, anything else by a context the
// server holds.
func (s *Server) openMessage(req *request) *rejection {
	if unsecured(req.env) {
		if s.cfg.AllowUnsecured {
			return nil
		}
		return reject(codeInvalidSecurity, "this service uses the message-security profile: every request must be signed and encrypted, and this one has no Security header")
	}
	sec, rej := securityHeader(req.env)
	if rej != nil {
		return rej
	}
	v, issue := issueVersion(req.action)
	if issue && !slices.Contains(s.cfg.Versions, v) {
		return reject(addressingCode(req.wsa, "ActionNotSupported"), "WS-SecureConversation %s is not enabled on this server (action %q)", v, req.action)
	}
	if !issue {
		// The version of the tokens in the header, else the one a
		// reference names, else the first accepted.
		if v, _, rej = s.contextVersion(sec); rej != nil {
			return rej
		}
		s.restoreCookies(sec, v, req.now)
	}
	// A Renew as WCF's client sends it comes under the
	// bootstrap binding, endorsed by the context (message_renew.go).
	underBootstrap := !issue && carriesBootstrapToken(sec)
	m, rej := s.open(req, s.msg.bindings(v, issue || underBootstrap, sec), v)
	if rej != nil {
		return rej
	}
	opened := m.opened
	req.env, req.headers = opened.Envelope, opened.Addressing
	req.msg = m
	if issue {
		if opened.EndorsedBy != nil {
			return reject(codeInvalidSecurity, "an Issue request is not endorsed by a security context (a Renew is)")
		}
		return s.authenticateMessage(req, m)
	}
	if underBootstrap {
		return s.endorsedRenew(req, m, v)
	}
	if opened.Reply.Context == nil || m.verified == nil {
		return reject(codeInvalidSecurity, "in the message-security profile only an Issue may be protected by anything but a security context")
	}
	if tok := opened.Reply.Context.Token; tok != nil && tok.Identifier != m.verified.Identifier {
		return reject(codeInvalidSecurity, "the message names context %q but is keyed by %q", m.verified.Identifier, tok.Identifier)
	}
	m.verified.PreviousKey = !bytes.Equal(opened.Reply.Context.Key, m.verified.key)
	m.verified.key = opened.Reply.Context.Key
	return nil
}

// bindings are the profiles a request may be opened with, in the order
// to try them: the steady state's, or for an Issue (issue; a Renew under
// the bootstrap binding too) the bootstrap leg's, or, for one carrying a
// client certificate when mutual10 is accepted, the asymmetric binding's,
// after the symmetric one's when mutual is accepted too.
func (ms *messageService) bindings(v wssc.Version, issue bool, sec *etree.Element) []*msgsec.Profile {
	switch {
	case !issue:
		return []*msgsec.Profile{ms.steady[v]}
	case ms.asym == nil || len(xmldoc.Children(sec, wss.NameBinarySecurityToken)) == 0:
		return []*msgsec.Profile{ms.boot[v]}
	case slices.Contains(ms.cfg.Bootstraps, BootstrapMutual):
		return []*msgsec.Profile{ms.boot[v], ms.asym[v]}
	}
	return []*msgsec.Profile{ms.asym[v]}
}

// open opens req under the first of profiles (see bindings) that
// accepts it. Either token is accepted, so that a request under the wrong
// one is refused afterwards with a fault that says so. A failed attempt
// may have changed the envelope, so a later one reads the request again.
func (s *Server) open(req *request, profiles []*msgsec.Profile, v wssc.Version) (*messageRequest, *rejection) {
	var (
		errs []error
		m    *messageRequest
	)
	for i, p := range profiles {
		env := req.env
		if i > 0 {
			var err error
			if env, err = soap.ParseWith(req.raw, xmldoc.Options{Limits: s.cfg.Limits}); err != nil {
				return nil, parseRejection(err)
			}
		}
		cur := &messageRequest{profile: p}
		opened, err := p.Open(env, msgsec.Expect{
			Own:         &s.msg.own,
			ContextKeys: func(id string) ([][]byte, error) { return s.contextKeys(cur, id, v, req) },
		})
		if err == nil {
			cur.opened = opened
			return cur, nil
		}
		m = cur
		errs = append(errs, err)
	}
	err := errs[0]
	if len(errs) == 2 {
		err = fmt.Errorf("the client certificate's request opens under neither binding (mutual: %w; mutual10: %w)", errs[0], errs[1])
	}
	rej := messageRejection(err, v)
	if m.verified != nil {
		rej.about(m.verified.Identifier)
	}
	return nil, rej
}

// issueVersion reports whether action is the Issue action of a
// WS-SecureConversation version, and which.
func issueVersion(action string) (wssc.Version, bool) {
	for _, v := range wssc.Versions {
		if action == v.Action(wssc.Issue) {
			return v, true
		}
	}
	return wssc.Version{}, false
}

// contextKeys answers msgsec's lookup of the context id: its current key,
// then its previous one during the rollover period. It records the
// context in m and refuses one of another WS-SecureConversation version
// than the message's.
func (s *Server) contextKeys(m *messageRequest, id string, v wssc.Version, req *request) ([][]byte, error) {
	sess, err := s.store.get(id, req.now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", msgsec.ErrUnknownContext, err)
	}
	if sess.Version != v {
		return nil, fmt.Errorf("%w: %w", msgsec.ErrUnknownContext, &ContextError{Identifier: id, Reason: "was issued for WS-SecureConversation " + sess.Version.String() + ", not " + v.String()})
	}
	m.verified = &Verified{Identifier: id, Version: v, key: sess.Key}
	m.principal = sess.Principal
	out := [][]byte{sess.Key}
	if sess.PrevKey != nil && req.now.Before(sess.PrevUntil) {
		out = append(out, sess.PrevKey)
	}
	return out, nil
}

// authenticateMessage decides which bootstrap protected an opened Issue
// request, refuses one not accepted, and authenticates its credential:
// the UsernameToken against Users, the client certificate against
// TrustedCAs.
func (s *Server) authenticateMessage(req *request, m *messageRequest) *rejection {
	o := m.opened
	switch {
	case o.Reply.Asymmetric != nil:
		m.bootstrap = BootstrapMutual10
	case o.Reply.Key == nil:
		return reject(codeInvalidSecurity, "an Issue request must be protected by a key encrypted for the service certificate, or by the client's certificate (mutual10), not by a security context")
	case o.PeerCert != nil:
		m.bootstrap = BootstrapMutual
	case o.Username != nil:
		m.bootstrap = BootstrapUsername
	default:
		m.bootstrap = BootstrapAnonymous
	}
	if !slices.Contains(s.msg.cfg.Bootstraps, m.bootstrap) {
		return reject(codeFailedAuthentication, "this service does not accept the %s message bootstrap (it accepts %s)", m.bootstrap, bootstrapList(s.msg.cfg.Bootstraps))
	}
	switch m.bootstrap {
	case BootstrapAnonymous:
		m.principal = "anonymous"
	case BootstrapUsername:
		principal, rej := s.checkUsernameToken(o.Username, req.now)
		if rej != nil {
			return rej
		}
		m.principal = principal
	default:
		opts := x509.VerifyOptions{Roots: s.cfg.TrustedCAs, CurrentTime: req.now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := o.PeerCert.Verify(opts); err != nil {
			return reject(codeFailedAuthentication, "the client certificate is not trusted: %v", err)
		}
		m.principal = "x509:" + o.PeerCert.Subject.String()
	}
	return nil
}

func bootstrapList(bs []MessageBootstrap) string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.String()
	}
	return strings.Join(names, ", ")
}

// messageRejection maps a failure of msgsec's Open to its fault: an
// unknown or ended context is wsc:BadContextToken; a message that does not
// decrypt, or whose signature does not verify, wsse:FailedCheck (every
// decryption failure the same fault, so that it tells nothing about
// padding); a stale Timestamp wsse:MessageExpired; anything else
// wsse:InvalidSecurity with msgsec's reason.
func messageRejection(err error, v wssc.Version) *rejection {
	var ce *ContextError
	switch {
	case errors.As(err, &ce):
		return badContext(v, ce)
	case errors.Is(err, msgsec.ErrUnknownContext):
		return reject(v.Fault(wssc.BadContextToken), "%v", err)
	case errors.Is(err, xenc.ErrDecrypt):
		return reject(codeFailedCheck, "the message does not decrypt with the key it names")
	case errors.Is(err, wss.ErrExpired), errors.Is(err, wss.ErrStale):
		return timestampRejection(err)
	}
	var (
		al *dsig.AlgorithmError
		de *dsig.DigestError
	)
	if errors.As(err, &al) || errors.As(err, &de) || errors.Is(err, dsig.ErrBadSignature) || errors.Is(err, dsig.ErrTruncatedHMAC) {
		return signatureRejection(err, v)
	}
	return reject(codeInvalidSecurity, "the message's security is not acceptable: %v", err)
}

// protectAnswer signs and encrypts an answer with the token that
// protected its request, confirming the request's signatures on the
// bootstrap leg.
func (s *Server) protectAnswer(req *request, env *soap.Envelope) (*reply, *rejection) {
	m := req.msg
	out := msgsec.Outgoing{Token: m.opened.Reply, Confirm: m.opened.SignatureValues}
	sent, err := m.profile.Protect(env, out)
	if err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "protecting the reply: %v", err)
	}
	return &reply{status: http.StatusOK, contentType: req.version.MediaType() + "; charset=utf-8", body: sent.Bytes}, nil
}

// possession returns the context that keyed a Renew or Cancel, which must
// be the one rst targets; a Renew must use its current key.
func (m *messageRequest) possession(rst *wssc.Request, allowPrevious bool) (*Verified, *rejection) {
	ver := m.verified
	switch {
	case ver == nil:
		return nil, reject(codeInvalidSecurity, "a %s request must be protected by the context it targets", rst.Operation)
	case ver.PreviousKey && !allowPrevious:
		return nil, reject(codeFailedCheck, "a %s request must be protected by the context's current key, not the one a renewal replaced", rst.Operation).about(ver.Identifier)
	}
	return ver, nil
}

// logAttrs are what the request log says of the message protection: the
// profile, and the bootstrap of an Issue. None outside the profile.
func (m *messageRequest) logAttrs() []slog.Attr {
	if m == nil {
		return nil
	}
	attrs := []slog.Attr{slog.String("security", "message")}
	if m.bootstrap != 0 {
		attrs = append(attrs, slog.String("bootstrap", m.bootstrap.String()))
	}
	return attrs
}
