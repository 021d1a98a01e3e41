package scserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DefaultTokenIssuer is the Issuer of the assertions the token service
// writes when Config.TokenIssuer is empty.
const DefaultTokenIssuer = "urn:scproxy:scserver:token-service"

// issuerValidity is how long the generated token-signing certificate is
// valid from the configured clock: long enough for any test that moves
// its clock, since relying parties pin the certificate rather than chain
// it.
const issuerValidity = 365 * 24 * time.Hour

// tokens is the server's issued-token side: the RSA key pair that signs
// the assertions it issues and opens the proof keys of the assertions it
// is given (it is their relying party), and the issuers it trusts.
type tokens struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	trusted []*x509.Certificate
}

// newTokens makes the key pair when the configuration issues or accepts
// issued tokens, and nil otherwise. The key comes from crypto/rand and its
// certificate from the configured clock: the key must be a real secret
// even in a test, and the certificate is checked against that clock.
func newTokens(cfg Config) (*tokens, error) {
	if !cfg.IssueTokens && len(cfg.TrustedIssuers) == 0 {
		return nil, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("scserver: token signing key: %w", err)
	}
	now := cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "scproxy demo token issuer", Organization: []string{"scproxy"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(issuerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("scserver: token signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	t := &tokens{key: key, cert: cert, trusted: slices.Clone(cfg.TrustedIssuers)}
	if cfg.IssueTokens {
		t.trusted = append(t.trusted, cert)
	}
	return t, nil
}

// IssuerCertificate returns the certificate of the key that signs the
// assertions the token service issues, to which an issued token's proof
// key must be encrypted for this server to accept it; nil when the
// configuration neither issues nor accepts issued tokens.
func (s *Server) IssuerCertificate() *x509.Certificate {
	if s.tokens == nil {
		return nil
	}
	return s.tokens.cert
}

// tokenService answers a WS-Trust Issue request for a SAML token (action
// <trust>/RST/Issue) when IssueTokens is set; ok is false for any other
// request.
func (s *Server) tokenService(req *request) (payload *etree.Element, action string, rej *rejection, ok bool) {
	if !s.cfg.IssueTokens {
		return nil, "", nil, false
	}
	for _, v := range wssc.Versions {
		if req.action != saml.IssueAction(v) {
			continue
		}
		req.op = "issue-token"
		if !slices.Contains(s.cfg.Versions, v) {
			return nil, "", reject(addressingCode(req.wsa, "ActionNotSupported"), "WS-Trust %s is not enabled on this server (action %q)", v, req.action), true
		}
		payload, rej := s.issueToken(req, v)
		return payload, saml.IssueReplyAction(v), rej, true
	}
	return nil, "", nil, false
}

// issueToken authenticates the UsernameToken of a request for a SAML 2.0
// token and issues a holder-of-key assertion for the user: audience the
// request's AppliesTo, valid for the configured Lifetime, the proof key
// (made under the Entropy policy) encrypted to this server's certificate
// and the whole signed with its issuer key.
func (s *Server) issueToken(req *request, v wssc.Version) (*etree.Element, *rejection) {
	payload, err := req.env.Payload()
	if err != nil {
		return nil, reject(trustCode(v, "InvalidRequest"), "the Issue request has no RequestSecurityToken: %v", err)
	}
	rst, err := saml.ParseRequest(payload, v)
	if err != nil {
		return nil, reject(trustCode(v, "InvalidRequest"), "the token request is invalid: %v", err)
	}
	user, rej := s.tokenUser(req)
	if rej != nil {
		return nil, rej
	}
	req.principal = "user:" + user
	proof, rej := s.newProof(rst.Request)
	if rej != nil {
		return nil, rej
	}
	out, err := s.tokenGrant(req.now, user, rst, proof)
	if err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "writing the token: %v", err)
	}
	s.stats.update("", func(st *Stats, _ *ContextStats) { st.TokensIssued++ })
	return out, nil
}

// tokenUser authenticates the request's UsernameToken, the one credential
// the token service takes.
func (s *Server) tokenUser(req *request) (string, *rejection) {
	sec, rej := securityHeader(req.env)
	if rej != nil {
		return "", rej
	}
	ut, err := xmldoc.One(sec, wss.NameUsernameToken)
	if err != nil {
		return "", reject(codeInvalidSecurity, "the token service needs exactly one UsernameToken: %v", err)
	}
	principal, rej := s.checkUsername(sec, ut, req.now)
	return strings.TrimPrefix(principal, "user:"), rej
}

// tokenGrant writes and signs the assertion and the reply that carries it.
func (s *Server) tokenGrant(now time.Time, user string, rst *saml.Request, proof *wssc.Proof) (*etree.Element, error) {
	id, err := s.uuid()
	if err != nil {
		return nil, err
	}
	issuer := s.cfg.TokenIssuer
	if issuer == "" {
		issuer = DefaultTokenIssuer
	}
	expires := now.Add(s.cfg.Lifetime)
	a, err := saml.Build(saml.Template{
		ID: "_" + id, Issuer: issuer, Subject: user,
		IssueInstant: now, NotBefore: now, NotOnOrAfter: expires, Audience: rst.AppliesTo,
		ProofKey: proof.Key, Recipient: s.tokens.cert,
	}, saml.IssuerKey{Key: s.tokens.key, Cert: s.tokens.cert}, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	return saml.BuildResponse(saml.Grant{
		Version: rst.Version, Assertion: a, Kind: saml.SAML20, ID: "_" + id, Proof: proof,
		Lifetime: wssc.Lifetime{Created: now, Expires: expires},
	})
}

// hasAssertion reports whether a Security header carries a SAML 2.0
// token: a child in the SAML 2.0 assertion namespace.
func hasAssertion(sec *etree.Element) bool { return len(samlChildren(sec)) > 0 }

// samlChildren returns the children of sec in the SAML 2.0 namespace.
func samlChildren(sec *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, c := range sec.ChildElements() {
		if c.NamespaceURI() == saml.NS {
			out = append(out, c)
		}
	}
	return out
}

// checkIssuedToken verifies an issued-token bootstrap: exactly one SAML
// 2.0 assertion in the Security header and one Signature, whose KeyInfo
// names that very assertion by KeyIdentifier; the assertion verified by
// saml.Verify (signed by a trusted issuer, valid now, for this server,
// its proof key encrypted to this server); the Signature verified with
// that proof key and covering a fresh Timestamp.
func (s *Server) checkIssuedToken(root, sec *etree.Element, v wssc.Version, now time.Time, endorsing *etree.Element) (string, *rejection) {
	if s.tokens == nil {
		return "", reject(codeFailedAuthentication, "issued-token authentication is not enabled on this server")
	}
	assertions := samlChildren(sec)
	if len(assertions) != 1 || !xmldoc.Is(assertions[0], saml.Name("Assertion")) {
		return "", reject(codeInvalidSecurity, "the Security header must hold exactly one SAML 2.0 element, an Assertion; it holds %d", len(assertions))
	}
	sig, rej := bootstrapSignature(sec, endorsing)
	if rej != nil {
		return "", rej
	}
	if rej := referencedAssertion(root, sig, assertions[0]); rej != nil {
		return "", rej
	}
	verified, err := saml.Verify(assertions[0], saml.VerifyOptions{
		Issuers: s.tokens.trusted, Now: now, Skew: s.cfg.Skew, Audience: s.audience,
		Recipient: s.tokens.cert, Key: s.tokens.key,
	})
	if err != nil {
		return "", assertionRejection(err)
	}
	if verified.Subject == "" {
		return "", reject(codeFailedAuthentication, "the SAML assertion names no subject")
	}
	// KeyInfo was resolved to the assertion above.
	resolve := func(_ *etree.Element, method string) (dsig.VerifyingKey, error) {
		return dsig.HMACKey(method, verified.ProofKey)
	}
	signed, err := dsig.Verify(root, sig, resolve, dsig.DefaultPolicy)
	if err != nil {
		return "", signatureRejection(err, v)
	}
	if _, rej := s.timestampIn(sec, signed, now); rej != nil {
		return "", rej
	}
	return "saml:" + verified.Subject, nil
}

// referencedAssertion requires the signature's KeyInfo to name, by
// KeyIdentifier, exactly one assertion of the message, and that one to be
// the assertion of the Security header.
func referencedAssertion(root, sig, assertion *etree.Element) *rejection {
	el, err := keyAssertion(root, sig)
	if err == nil && el != assertion {
		err = errors.New("the key reference names an assertion outside the Security header")
	}
	if err != nil {
		return reject(codeInvalidSecurityToken, "the signature's key cannot be resolved to the SAML assertion: %v", err)
	}
	return nil
}

// keyAssertion resolves sig's KeyInfo to the assertion it names.
func keyAssertion(root, sig *etree.Element) (*etree.Element, error) {
	ki, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "KeyInfo"})
	if err != nil {
		return nil, err
	}
	strEl, err := xmldoc.One(ki, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, err
	}
	str, err := wss.ParseSTR(strEl)
	if err != nil {
		return nil, err
	}
	el, _, err := saml.Referenced(root, str)
	return el, err
}

// assertionRejection maps a failed saml.Verify: a token this server does
// not trust or no longer accepts fails authentication; anything else is
// an invalid token.
func assertionRejection(err error) *rejection {
	for _, refused := range []error{saml.ErrUntrustedIssuer, saml.ErrExpired, saml.ErrNotYetValid, saml.ErrAudience} {
		if errors.Is(err, refused) {
			return reject(codeFailedAuthentication, "the SAML assertion is not accepted: %v", err)
		}
	}
	return reject(codeInvalidSecurityToken, "the SAML assertion is invalid: %v", err)
}

// audience reports whether an assertion's audience designates this
// server: one of Config.Audiences when set, else any address under the
// URL it listens on.
func (s *Server) audience(uri string) bool {
	if len(s.cfg.Audiences) > 0 {
		return slices.Contains(s.cfg.Audiences, uri)
	}
	base := s.URL()
	return base != "" && strings.HasPrefix(uri, base)
}
