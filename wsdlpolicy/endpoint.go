package wsdlpolicy

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Profiles an endpoint may need, as `scproxy run --profile` names them;
// ProfileNone stands for `--security none` (no message security at all).
const (
	ProfileSCOverTLS = "sc-tls"
	ProfileMessage   = "message"
	ProfileX509      = "x509"
	ProfileNone      = "none"
)

// Settings are what scproxy needs to reach one endpoint, in the values its
// command line takes. An empty field is scproxy's default.
type Settings struct {
	SOAPVersion string // "1.1" or "1.2"
	// Addressing is "none", "2004-08" or "1.0"; empty when the policy
	// does not say.
	Addressing string
	Profile    string // one of the Profile constants
	SCVersion  string // "2005-02" or "1.3"
	// Bootstrap establishes an sc-tls context: username, certificate,
	// issued-token or kerberos.
	Bootstrap string
	// MessageBootstrap establishes a message-profile context: anonymous,
	// username, mutual or mutual10.
	MessageBootstrap string
	// AlgorithmSuite is the WS-SecurityPolicy suite as published
	// (Basic256, Basic256Sha256, Basic128Rsa15, ...).
	AlgorithmSuite string
	// SignatureAlgorithm is hmac-sha256 under a Sha256 suite of an sc-tls
	// endpoint (WCF signs with it), empty otherwise.
	SignatureAlgorithm string
	KeySize            int    // the context key's bits when not 256
	Entropy            string // "client" or "server" when not combined
	DerivedKeys        bool   // sp:RequireDerivedKeys on the context token
	NoCancel           bool   // MustNotSendCancel on the context token
	// ProtectionOrder of a message-profile endpoint:
	// sign-encrypt-signature, sign-encrypt or encrypt-sign.
	ProtectionOrder string
	SPN             string // the Kerberos service principal
}

// Endpoint is one wsdl:port and what reaching it takes.
type Endpoint struct {
	Service, Port, Binding string // local names
	Address                string // the soap:address location
	Settings               Settings
	// Certificate is the service certificate published in the endpoint's
	// identity (wsa:EndpointReference/Identity/KeyInfo), or nil.
	Certificate *x509.Certificate
	// Notes explain settings a reader may question.
	Notes []string
	// Unsupported lists what scproxy cannot do for the endpoint, each with
	// the change on the service that makes it reachable; empty when
	// scproxy reaches it with Settings.
	Unsupported []Unsupported
}

// Unsupported is one requirement of a policy that scproxy cannot meet.
type Unsupported struct {
	What string // what the policy asks, by its assertion
	Fix  string // the change on the service that makes it reachable
}

// Endpoints returns every SOAP endpoint of the description, services and
// ports in document order.
func (d *Description) Endpoints() ([]Endpoint, error) {
	pol := indexPolicies(d)
	bindings := map[xmldoc.Name]*etree.Element{}
	for _, doc := range d.docs {
		tns := doc.root.SelectAttrValue("targetNamespace", "")
		for _, b := range xmldoc.Children(doc.root, wsdlName("binding")) {
			bindings[xmldoc.Name{Space: tns, Local: b.SelectAttrValue("name", "")}] = b
		}
	}
	var out []Endpoint
	for _, doc := range d.docs {
		for _, svc := range xmldoc.Children(doc.root, wsdlName("service")) {
			for _, port := range xmldoc.Children(svc, wsdlName("port")) {
				ep, ok, err := endpoint(pol, bindings, svc, port)
				if err != nil {
					return nil, fmt.Errorf("service %s, port %s: %w", svc.SelectAttrValue("name", ""), port.SelectAttrValue("name", ""), err)
				}
				if ok {
					out = append(out, ep)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s describes no SOAP endpoint (no wsdl:service with a SOAP port)", d.Location)
	}
	return out, nil
}

// endpoint reads one port; ok is false for a port that is not SOAP.
func endpoint(pol *policies, bindings map[xmldoc.Name]*etree.Element, svc, port *etree.Element) (Endpoint, bool, error) {
	ep := Endpoint{Service: svc.SelectAttrValue("name", ""), Port: port.SelectAttrValue("name", "")}
	qn := port.SelectAttrValue("binding", "")
	prefix, local, found := strings.Cut(qn, ":")
	if !found {
		prefix, local = "", qn
	}
	space := xmldoc.InScope(port)[prefix]
	binding := bindings[xmldoc.Name{Space: space, Local: local}]
	if binding == nil {
		return ep, false, fmt.Errorf("binding %q is not in the description", qn)
	}
	ep.Binding = local
	for c := range port.ChildElementsSeq() {
		switch {
		case xmldoc.Is(c, xmldoc.Name{Space: nsSOAP11, Local: "address"}):
			ep.Settings.SOAPVersion, ep.Address = "1.1", c.SelectAttrValue("location", "")
		case xmldoc.Is(c, xmldoc.Name{Space: nsSOAP12, Local: "address"}):
			ep.Settings.SOAPVersion, ep.Address = "1.2", c.SelectAttrValue("location", "")
		}
	}
	if ep.Address == "" {
		return ep, false, nil
	}
	if xmldoc.Children(binding, xmldoc.Name{Space: nsSOAP12, Local: "binding"}) != nil {
		ep.Settings.SOAPVersion = "1.2"
	} else if xmldoc.Children(binding, xmldoc.Name{Space: nsSOAP11, Local: "binding"}) != nil {
		ep.Settings.SOAPVersion = "1.1"
	}
	identity(&ep, port)
	alts, err := pol.crossAttached(binding, port)
	if err != nil {
		return ep, false, err
	}
	if len(alts) == 0 {
		ep.Unsupported = []Unsupported{{
			What: "a policy with no alternative (an empty wsp:ExactlyOne): no client can meet it",
			Fix:  "publish the binding's policy with at least one alternative",
		}}
		return ep, true, nil
	}
	var first *analysis
	for _, alt := range alts {
		a := &analysis{p: pol, ep: ep}
		a.ep.Notes = slices.Clip(a.ep.Notes) // each alternative appends to its own
		a.ep.Unsupported = nil
		a.addressing(alt, binding)
		if err := a.run(alt); err != nil {
			return ep, false, err
		}
		if len(a.ep.Unsupported) == 0 {
			return a.ep, true, nil
		}
		if first == nil {
			first = a
		}
	}
	return first.ep, true, nil
}

// crossAttached returns the alternatives of the policies attached to a
// binding and its port, which apply together.
func (p *policies) crossAttached(binding, port *etree.Element) ([]alternative, error) {
	b, err := p.attached(binding)
	if err != nil {
		return nil, err
	}
	pt, err := p.attached(port)
	if err != nil {
		return nil, err
	}
	var out []alternative
	for _, x := range b {
		for _, y := range pt {
			if len(out) == maxAlternatives {
				return nil, fmt.Errorf("the policy has more than %d alternatives", maxAlternatives)
			}
			out = append(out, append(append(alternative{}, x...), y...))
		}
	}
	return out, nil
}

// identity reads the port's endpoint reference: the service certificate
// and, for Kerberos, the service principal.
func identity(ep *Endpoint, port *etree.Element) {
	for _, space := range []string{nsWSA10, nsWSA0408} {
		for _, epr := range xmldoc.Children(port, xmldoc.Name{Space: space, Local: "EndpointReference"}) {
			for _, id := range xmldoc.Children(epr, xmldoc.Name{Space: nsWSID, Local: "Identity"}) {
				readIdentity(ep, id)
			}
		}
	}
}

func readIdentity(ep *Endpoint, id *etree.Element) {
	for c := range id.ChildElementsSeq() {
		switch {
		case xmldoc.Is(c, xmldoc.Name{Space: nsWSID, Local: "Spn"}), xmldoc.Is(c, xmldoc.Name{Space: nsWSID, Local: "Upn"}):
			ep.Settings.SPN = xmldoc.Text(c)
		case xmldoc.Is(c, xmldoc.Name{Space: nsDS, Local: "KeyInfo"}):
			for _, data := range xmldoc.Children(c, xmldoc.Name{Space: nsDS, Local: "X509Data"}) {
				for _, cert := range xmldoc.Children(data, xmldoc.Name{Space: nsDS, Local: "X509Certificate"}) {
					der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cert.Text()), ""))
					if err != nil {
						ep.Notes = append(ep.Notes, "the identity's X509Certificate is not base64; ignored")
						continue
					}
					parsed, err := x509.ParseCertificate(der)
					if err != nil {
						ep.Notes = append(ep.Notes, fmt.Sprintf("the identity's X509Certificate does not parse (%v); ignored", err))
						continue
					}
					if ep.Certificate == nil {
						ep.Certificate = parsed
					}
				}
			}
		}
	}
}

// analysis reads one policy alternative into an endpoint's settings.
type analysis struct {
	p  *policies
	ep Endpoint
}

func (a *analysis) note(format string, args ...any) {
	a.ep.Notes = append(a.ep.Notes, fmt.Sprintf(format, args...))
}

// cannot records what scproxy cannot do, once however many assertions ask
// it (a bootstrap repeats the endpoint's transport).
func (a *analysis) cannot(u Unsupported) {
	if !slices.Contains(a.ep.Unsupported, u) {
		a.ep.Unsupported = append(a.ep.Unsupported, u)
	}
}

// addressing reads the WS-Addressing assertion of the policy, or WSDL's
// UsingAddressing extension on the binding.
func (a *analysis) addressing(alt alternative, binding *etree.Element) {
	switch {
	case alt.has("UsingAddressing", nsWSAW), alt.has("Addressing", nsWSAM),
		xmldoc.Children(binding, xmldoc.Name{Space: nsWSAW, Local: "UsingAddressing"}) != nil:
		a.ep.Settings.Addressing = "1.0"
	case alt.has("UsingAddressing", nsWSAP0408):
		a.ep.Settings.Addressing = "2004-08"
	}
}

// run reads the security binding of the alternative.
func (a *analysis) run(alt alternative) error {
	switch {
	case alt.has("TransportBinding"):
		return a.transport(alt)
	case alt.has("SymmetricBinding"):
		return a.symmetric(alt)
	case alt.has("AsymmetricBinding"):
		a.cannot(noContext("an asymmetric binding (sp:AsymmetricBinding): every message signed and encrypted with X.509 certificates"))
		return nil
	}
	a.ep.Settings.Profile = ProfileNone
	if len(alt) == 0 || alt.find("UsingAddressing", nsWSAW) != nil && len(alt) == 1 {
		a.note("the description attaches no security policy to this endpoint: either it needs none, or the service does not publish its policy (a CXF service given its policy as a feature does not): ask its operator before trusting security: none")
	} else {
		a.note("the policy asks for no message security: scproxy forwards unchanged (security: none)")
	}
	return nil
}

// transport reads an sc-tls (or x509) endpoint: a TransportBinding and the
// context token among the supporting tokens.
func (a *analysis) transport(alt alternative) error {
	tb, err := a.p.nested(alt.find("TransportBinding"))
	if err != nil {
		return err
	}
	if err := a.httpsToken(tb); err != nil {
		return err
	}
	a.suite(tb, false)
	tokens, err := a.supporting(alt)
	if err != nil {
		return err
	}
	switch {
	case tokens.has("SecureConversationToken"):
		a.ep.Settings.Profile = ProfileSCOverTLS
		boot, err := a.context(tokens.find("SecureConversationToken"))
		if err != nil {
			return err
		}
		a.entropy(boot, alt)
		return a.transportBootstrap(boot)
	case tokens.has("SpnegoContextToken"):
		a.cannot(spnego)
	case tokens.has("SslContextToken", nsMSSP):
		a.cannot(tlsNego)
	case tokens.has("X509Token"):
		a.ep.Settings.Profile = ProfileX509
		a.note("no security context: every message is signed with the client certificate (WCF's certificate over transport, the x509 profile)")
	case len(tokens) > 0:
		a.cannot(noContext(fmt.Sprintf("sp:%s on every message over TLS", tokens[0].Tag)))
	default:
		a.ep.Settings.Profile = ProfileNone
		a.note("TLS only, no message security (security mode Transport): scproxy forwards unchanged (security: none)")
	}
	return nil
}

// httpsToken refuses a transport that wants a TLS client certificate.
func (a *analysis) httpsToken(tb alternative) error {
	tt, err := a.p.nested(tb.find("TransportToken"))
	if err != nil {
		return err
	}
	https := tt.find("HttpsToken")
	if https == nil {
		return nil
	}
	inner, err := a.p.nested(https)
	if err != nil {
		return err
	}
	if https.SelectAttrValue("RequireClientCertificate", "") == "true" || inner.has("RequireClientCertificate") {
		a.cannot(Unsupported{
			What: "a TLS client certificate (sp:HttpsToken RequireClientCertificate): scproxy presents none on its TLS connections",
			Fix:  `set the transport's clientCredentialType="None" and authenticate with the message credential instead (<message clientCredentialType="Certificate"/> for a certificate)`,
		})
	}
	return nil
}

// symmetric reads a message-security endpoint: a SymmetricBinding whose
// protection token is the context token.
func (a *analysis) symmetric(alt alternative) error {
	sb, err := a.p.nested(alt.find("SymmetricBinding"))
	if err != nil {
		return err
	}
	a.suite(sb, true)
	switch {
	case sb.has("EncryptBeforeSigning"):
		a.ep.Settings.ProtectionOrder = "encrypt-sign"
	case sb.has("EncryptSignature"):
		a.ep.Settings.ProtectionOrder = "sign-encrypt-signature"
	default:
		a.ep.Settings.ProtectionOrder = "sign-encrypt"
	}
	tok, err := a.protectionToken(sb)
	if err != nil {
		return err
	}
	switch {
	case isSP(tok, "SecureConversationToken"):
		a.ep.Settings.Profile = ProfileMessage
		boot, err := a.context(tok)
		if err != nil {
			return err
		}
		a.entropy(boot, alt)
		return a.messageBootstrap(boot)
	case tok == nil:
		a.cannot(Unsupported{What: "a symmetric binding without a protection token", Fix: "publish the binding's protection token"})
	default:
		a.protectionOther(tok)
	}
	return nil
}

// protectionToken returns the token assertion inside a binding's
// sp:ProtectionToken.
func (a *analysis) protectionToken(binding alternative) (*etree.Element, error) {
	pt, err := a.p.nested(binding.find("ProtectionToken"))
	if err != nil || len(pt) == 0 {
		return nil, err
	}
	return pt[0], nil
}

// protectionOther names a protection token other than the context token.
func (a *analysis) protectionOther(tok *etree.Element) {
	switch {
	case isIn(tok, "SslContextToken", []string{nsMSSP}):
		a.cannot(tlsNego)
	case isSP(tok, "SpnegoContextToken"):
		a.cannot(spnego)
	default:
		a.cannot(noContext(fmt.Sprintf("a symmetric binding protected by sp:%s", tok.Tag)))
	}
}

// context reads the SecureConversationToken assertion and returns its
// bootstrap policy's alternative.
func (a *analysis) context(sct *etree.Element) (alternative, error) {
	s := &a.ep.Settings
	if sct.NamespaceURI() == nsSP11 {
		s.SCVersion = "2005-02"
	} else {
		s.SCVersion = "1.3"
	}
	inner, err := a.p.nested(sct)
	if err != nil {
		return nil, err
	}
	s.DerivedKeys = inner.has("RequireDerivedKeys")
	s.NoCancel = inner.has("MustNotSendCancel") || inner.has("MustNotSendCancel", nsMSSP)
	if s.NoCancel {
		a.note("MustNotSendCancel: the service wants no Cancel (WCF: requireCancellation=false, the context kept in a cookie)")
	}
	return a.p.nested(inner.find("BootstrapPolicy"))
}

// supportingKinds are the supporting token assertions of WS-SecurityPolicy
// (§8); the tokens inside any of them are read alike.
var supportingKinds = []string{
	"SupportingTokens", "SignedSupportingTokens", "EndorsingSupportingTokens",
	"SignedEndorsingSupportingTokens", "SignedEncryptedSupportingTokens",
	"EncryptedSupportingTokens", "EndorsingEncryptedSupportingTokens",
	"SignedEndorsingEncryptedSupportingTokens",
}

// supporting returns the token assertions of every supporting token
// assertion of alt.
func (a *analysis) supporting(alt alternative) (alternative, error) {
	var out alternative
	for _, el := range alt {
		for _, kind := range supportingKinds {
			if !isSP(el, kind) {
				continue
			}
			inner, err := a.p.nested(el)
			if err != nil {
				return nil, err
			}
			for _, t := range inner {
				if strings.HasSuffix(t.Tag, "Token") {
					out = append(out, t)
				}
			}
		}
	}
	return out, nil
}

// transportBootstrap reads the bootstrap of an sc-tls context: the
// credential sent over TLS with the Issue.
func (a *analysis) transportBootstrap(boot alternative) error {
	s := &a.ep.Settings
	if boot.has("TransportBinding") {
		tb, err := a.p.nested(boot.find("TransportBinding"))
		if err != nil {
			return err
		}
		if err := a.httpsToken(tb); err != nil {
			return err
		}
	}
	tokens, err := a.supporting(boot)
	if err != nil {
		return err
	}
	switch {
	case tokens.has("UsernameToken"):
		s.Bootstrap = "username"
	case tokens.has("X509Token"):
		s.Bootstrap = "certificate"
	case tokens.has("IssuedToken"), tokens.has("SamlToken"):
		s.Bootstrap = "issued-token"
	case tokens.has("KerberosToken"):
		s.Bootstrap = "kerberos"
		a.spn()
	case tokens.has("SpnegoContextToken"):
		a.cannot(spnego)
	case boot.has("SymmetricBinding"), boot.has("AsymmetricBinding"):
		a.cannot(Unsupported{
			What: "a context over TLS bootstrapped with message security",
			Fix:  "bootstrap the context over the transport: secureConversationBootstrap authenticationMode UserNameOverTransport, CertificateOverTransport, IssuedTokenOverTransport or KerberosOverTransport",
		})
	default:
		a.cannot(Unsupported{
			What: "an anonymous bootstrap over TLS (no credential in the bootstrap policy)",
			Fix:  "bootstrap the context with a credential: UserNameOverTransport, CertificateOverTransport, IssuedTokenOverTransport or KerberosOverTransport",
		})
	}
	return nil
}

// messageBootstrap reads the bootstrap of a message-profile context.
func (a *analysis) messageBootstrap(boot alternative) error {
	s := &a.ep.Settings
	tokens, err := a.supporting(boot)
	if err != nil {
		return err
	}
	switch {
	case boot.has("SymmetricBinding"):
		sb, err := a.p.nested(boot.find("SymmetricBinding"))
		if err != nil {
			return err
		}
		tok, err := a.protectionToken(sb)
		if err != nil {
			return err
		}
		switch {
		case isSP(tok, "X509Token"):
			switch {
			case tokens.has("UsernameToken"):
				s.MessageBootstrap = "username"
			case tokens.has("X509Token"):
				s.MessageBootstrap = "mutual"
			case len(tokens) > 0:
				a.cannot(messageBootstrapToken(tokens[0].Tag))
				return nil
			default:
				s.MessageBootstrap = "anonymous"
			}
		case isSP(tok, "KerberosToken"):
			a.cannot(messageBootstrapToken("KerberosToken"))
			return nil
		case tok == nil:
			a.cannot(Unsupported{What: "a bootstrap binding without a protection token", Fix: "publish the bootstrap's protection token"})
			return nil
		default:
			a.protectionOther(tok)
			return nil
		}
	case boot.has("AsymmetricBinding"):
		if len(tokens) > 0 {
			a.cannot(messageBootstrapToken(tokens[0].Tag))
			return nil
		}
		s.MessageBootstrap = "mutual10"
	default:
		a.cannot(Unsupported{
			What: "a message-security context whose bootstrap policy has no security binding",
			Fix:  "publish the bootstrap binding (WCF does: negotiateServiceCredential=\"false\" with a service certificate)",
		})
		return nil
	}
	if a.ep.Certificate == nil {
		a.note("the WSDL publishes no service certificate (wsa:EndpointReference/Identity/KeyInfo): get it from the service's operator and name it in server-cert")
	}
	return nil
}

// suite reads a binding's algorithm suite. For sc-tls it also sets the key
// size and, under a Sha256 suite, HMAC-SHA256 as WCF signs.
func (a *analysis) suite(binding alternative, message bool) {
	as, err := a.p.nested(binding.find("AlgorithmSuite"))
	if err != nil || len(as) == 0 {
		return
	}
	name := as[0].Tag
	s := &a.ep.Settings
	if message {
		s.AlgorithmSuite = name
		return
	}
	switch {
	case strings.HasPrefix(name, "Basic128"):
		s.KeySize = 128
	case strings.HasPrefix(name, "Basic192"), strings.HasPrefix(name, "TripleDes"):
		s.KeySize = 192
	}
	if strings.Contains(name, "Sha256") {
		s.SignatureAlgorithm = "hmac-sha256"
		a.note("algorithm suite %s: WCF signs with HMAC-SHA256; a WSS4J (CXF) service keeps HMAC-SHA1: set signature-algorithm: hmac-sha1 for one", name)
	}
}

// entropy reads Trust10/Trust13 from the bootstrap or, failing that, the
// endpoint policy: who contributes to the context key.
func (a *analysis) entropy(boot, alt alternative) {
	var trust *etree.Element
	for _, where := range []alternative{boot, alt} {
		for _, name := range []string{"Trust10", "Trust13"} {
			if trust == nil {
				trust = where.find(name)
			}
		}
	}
	inner, err := a.p.nested(trust)
	if err != nil || trust == nil {
		return
	}
	client, server := inner.has("RequireClientEntropy"), inner.has("RequireServerEntropy")
	switch {
	case client && !server:
		a.ep.Settings.Entropy = "client"
	case server && !client:
		a.ep.Settings.Entropy = "server"
	}
}

// spn sets the Kerberos service principal: the endpoint identity's, or
// HTTP/host as WCF derives it.
func (a *analysis) spn() {
	if a.ep.Settings.SPN != "" {
		return
	}
	if u, err := url.Parse(a.ep.Address); err == nil && u.Hostname() != "" {
		a.ep.Settings.SPN = "HTTP/" + u.Hostname()
		a.note("the WSDL names no service principal: HTTP/%s assumed (WCF's default for an HTTP endpoint)", u.Hostname())
	}
}

// What scproxy cannot do, each with the change on the service that makes
// it reachable.
var (
	tlsNego = Unsupported{
		What: `WCF's TLSNego: the service certificate is negotiated by a TLS handshake carried in WS-Trust messages (mssp:SslContextToken; negotiateServiceCredential="true", the default of wsHttpBinding's Message security), which only WCF implements`,
		Fix:  `set <message negotiateServiceCredential="false"/> in the binding's security and configure a service certificate (serviceCredentials/serviceCertificate): the WSDL then publishes the certificate and inspect prints the message profile; or expose an endpoint with <security mode="TransportWithMessageCredential"> (the sc-tls profile)`,
	}
	spnego = Unsupported{
		What: `SPNEGO negotiation of the context (sp:SpnegoContextToken: Windows credentials with negotiateServiceCredential="true", or TransportWithMessageCredential with clientCredentialType="Windows")`,
		Fix:  `offer a credential scproxy sends: <message clientCredentialType="UserName"/> or "Certificate" (with negotiateServiceCredential="false" under Message security, or under TransportWithMessageCredential), or a customBinding with <security authenticationMode="SecureConversation"><secureConversationBootstrap authenticationMode="KerberosOverTransport"/></security> over httpsTransport (sc-tls with the kerberos bootstrap)`,
	}
)

func noContext(what string) Unsupported {
	return Unsupported{
		What: "no security context: " + what + ` (establishSecurityContext="false")`,
		Fix:  `set establishSecurityContext="true" in the binding's <message> security (the default of wsHttpBinding and ws2007HttpBinding), or use a customBinding with authenticationMode="SecureConversation"`,
	}
}

func messageBootstrapToken(tag string) Unsupported {
	return Unsupported{
		What: "sp:" + tag + " as the bootstrap credential of message security: scproxy's message profile bootstraps with no credential, a user name or a certificate",
		Fix:  `set <message clientCredentialType="UserName"/> (or "Certificate" or "None") with negotiateServiceCredential="false", or expose an endpoint with <security mode="TransportWithMessageCredential"> (the sc-tls profile, which also takes issued tokens and, through a customBinding's KerberosOverTransport, Kerberos)`,
	}
}
