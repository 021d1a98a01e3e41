package saml

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// NSPolicy is the WS-Policy namespace of wsp:AppliesTo in both WS-Trust
// versions.
const NSPolicy = "http://schemas.xmlsoap.org/ws/2004/09/policy"

// tokenTypeAliases are the TokenType URIs of a SAML 2.0 assertion: the
// token profile's and the assertion namespace, which WCF accepts too.
var tokenTypeAliases = []string{TokenTypeSAML20, NS}

// IssueAction is the action of a WS-Trust Issue request for a token other
// than a security context token (WS-Trust 1.3 Appendix II).
func IssueAction(v wssc.Version) string { return v.Trust() + "/RST/Issue" }

// IssueReplyAction is the action of the reply: the final response
// collection in 1.3, the RSTR in February 2005.
func IssueReplyAction(v wssc.Version) string {
	if v == wssc.V1_3 {
		return v.Trust() + "/RSTRC/IssueFinal"
	}
	return v.Trust() + "/RSTR/Issue"
}

// keyType is the KeyType URI of a symmetric proof key.
func keyType(v wssc.Version) string { return v.Trust() + "/SymmetricKey" }

// RequestParams shape an Issue request for a SAML 2.0 token.
type RequestParams struct {
	Version wssc.Version
	// AppliesTo is the address of the service the token is for; "" asks
	// for a token without audience.
	AppliesTo string
	// KeySize is the proof key's size in bits; 0 means 256.
	KeySize int
	// Mode: CombinedEntropy (WCF's default for issued tokens: the key is
	// computed from both sides' entropy), ClientEntropy or ServerEntropy.
	Mode wssc.EntropyMode
	// Rand supplies the client entropy.
	Rand io.Reader
}

// BuildRequest returns the RequestSecurityToken for a SAML 2.0 holder-of-key
// token: the security-context Issue request of wire/wssc with the SAML
// token type instead of the SCT's, and AppliesTo and KeyType SymmetricKey
// added, with ComputedKeyAlgorithm in combined mode as WCF's issued-token
// requestor writes it. The client entropy it carries is in the result.
func BuildRequest(p RequestParams) (*wssc.RST, error) {
	rst, err := wssc.BuildIssue(wssc.Params{Version: p.Version, Mode: p.Mode, KeySize: p.KeySize, ComputedKeyAlgorithm: true, Rand: p.Rand})
	if err != nil {
		return nil, err
	}
	v := p.Version
	tt, err := xmldoc.One(rst.Element, trustName(v, "TokenType"))
	if err != nil {
		return nil, wrap(err)
	}
	tt.SetText(TokenTypeSAML20)
	at := tt.Index() + 1
	if p.AppliesTo != "" {
		rst.Element.InsertChildAt(at, appliesTo(v, p.AppliesTo))
		at++
	}
	kt := etree.NewElement(tt.Space + ":KeyType")
	kt.SetText(keyType(v))
	rst.Element.InsertChildAt(at, kt)
	return rst, nil
}

// addressing is the WS-Addressing version of endpoint references in v.
func addressing(v wssc.Version) wsa.Version {
	if v == wssc.V1_3 {
		return wsa.V10
	}
	return wsa.V200408
}

// appliesTo writes wsp:AppliesTo holding an endpoint reference to address.
func appliesTo(v wssc.Version, address string) *etree.Element {
	a := etree.NewElement("wsp:AppliesTo")
	a.CreateAttr("xmlns:wsp", NSPolicy)
	epr := a.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", addressing(v).Namespace())
	epr.CreateElement("wsa:Address").SetText(address)
	return a
}

// readAppliesTo reads the optional wsp:AppliesTo of el: exactly one
// EndpointReference of either WS-Addressing version with one Address.
func readAppliesTo(el *etree.Element) (string, error) {
	at, err := xmldoc.Optional(el, xmldoc.Name{Space: NSPolicy, Local: "AppliesTo"})
	if err != nil || at == nil {
		return "", wrap(err)
	}
	kids := at.ChildElements()
	if len(kids) != 1 || kids[0].Tag != "EndpointReference" {
		return "", errors.New("saml: AppliesTo must hold one EndpointReference")
	}
	av, ok := wsa.VersionOf(kids[0].NamespaceURI())
	if !ok {
		return "", fmt.Errorf("saml: AppliesTo endpoint reference in unknown namespace %q", kids[0].NamespaceURI())
	}
	addr, err := xmldoc.One(kids[0], av.Name("Address"))
	if err != nil {
		return "", wrap(err)
	}
	if xmldoc.Text(addr) == "" {
		return "", errors.New("saml: empty AppliesTo address")
	}
	return xmldoc.Text(addr), nil
}

func trustName(v wssc.Version, local string) xmldoc.Name {
	return xmldoc.Name{Space: v.Trust(), Local: local}
}

// Request is an Issue request for a SAML token as an issuer reads it: the
// WS-Trust fields wire/wssc reads for any Issue (entropy, key size,
// computed-key algorithm), plus the audience.
type Request struct {
	*wssc.Request
	AppliesTo string
}

// ParseRequest reads an Issue request for a SAML 2.0 token in version v.
// The TokenType must be SAML 2.0's and the KeyType, when present,
// SymmetricKey: bearer and public-key tokens are not issued. The rest is
// read by wssc.ParseRequest, with the TokenType set aside since that
// parser knows only the SCT's.
func ParseRequest(payload *etree.Element, v wssc.Version) (*Request, error) {
	tt, err := xmldoc.One(payload, trustName(v, "TokenType"))
	if err != nil {
		return nil, fmt.Errorf("saml: the request names no token type: %w", err)
	}
	if got := xmldoc.Text(tt); !slices.Contains(tokenTypeAliases, got) {
		return nil, fmt.Errorf("saml: token type %q is not issued here, only %s", got, TokenTypeSAML20)
	}
	kt, err := xmldoc.Optional(payload, trustName(v, "KeyType"))
	if err != nil {
		return nil, wrap(err)
	}
	if kt != nil && xmldoc.Text(kt) != keyType(v) {
		return nil, fmt.Errorf("saml: key type %q is not issued here, only %s", xmldoc.Text(kt), keyType(v))
	}
	r := &Request{}
	if r.AppliesTo, err = readAppliesTo(payload); err != nil {
		return nil, err
	}
	err = aside(tt, func() error {
		var err error
		r.Request, err = wssc.ParseRequest(payload, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := r.Expect(wssc.Issue); err != nil {
		return nil, err
	}
	return r, nil
}

// aside takes el out of its parent while fn runs and puts it back where it
// was, so that a parser of wire/wssc can read the rest of an element
// without the one child it does not know.
func aside(el *etree.Element, fn func() error) error {
	parent, at := el.Parent(), el.Index()
	parent.RemoveChildAt(at)
	defer parent.InsertChildAt(at, el)
	return fn()
}

// Grant is the content of an issued-token reply.
type Grant struct {
	Version wssc.Version
	// Assertion is the signed token, as Build returned it.
	Assertion *etree.Element
	Kind      Kind
	ID        string
	Proof     *wssc.Proof
	Lifetime  wssc.Lifetime
	// KeySize in bits; 0 writes the size of Proof.Key.
	KeySize int
}

// BuildResponse writes the reply to an Issue request for a SAML token: the
// WCF-shaped reply of wssc.BuildResponse (the 1.3 collection, proof token,
// server entropy, Lifetime, KeySize) with the SAML token type, the
// assertion as RequestedSecurityToken and both references naming it by
// KeyIdentifier (SAML Token Profile 1.1 §3.4.1), as WCF's issuer writes
// them.
func BuildResponse(g Grant) (*etree.Element, error) {
	if g.Assertion == nil || g.ID == "" {
		return nil, errors.New("saml: no assertion to grant")
	}
	outer, err := wssc.BuildResponse(wssc.Grant{Version: g.Version, Token: wssc.Token{Identifier: g.ID}, Proof: g.Proof, Lifetime: g.Lifetime, KeySize: g.KeySize})
	if err != nil {
		return nil, err
	}
	rstr := outer
	if n := trustName(g.Version, "RequestSecurityTokenResponse"); !xmldoc.Is(outer, n) {
		if rstr, err = xmldoc.One(outer, n); err != nil {
			return nil, wrap(err)
		}
	}
	tt, err := xmldoc.One(rstr, trustName(g.Version, "TokenType"))
	if err != nil {
		return nil, wrap(err)
	}
	tt.SetText(g.Kind.TokenType())
	if err := replaceContent(rstr, trustName(g.Version, "RequestedSecurityToken"), g.Assertion); err != nil {
		return nil, err
	}
	unattached := trustName(g.Version, "RequestedUnattachedReference")
	if err := replaceContent(rstr, unattached, Reference(g.Kind, g.ID)); err != nil {
		return nil, err
	}
	attached := etree.NewElement(tt.Space + ":RequestedAttachedReference")
	attached.AddChild(Reference(g.Kind, g.ID))
	rstr.InsertChildAt(xmldoc.Children(rstr, unattached)[0].Index(), attached)
	return outer, nil
}

// replaceContent makes el the only child of parent's child named n.
func replaceContent(parent *etree.Element, n xmldoc.Name, el *etree.Element) error {
	wrapper, err := xmldoc.One(parent, n)
	if err != nil {
		return wrap(err)
	}
	for _, c := range wrapper.ChildElements() {
		wrapper.RemoveChild(c)
	}
	wrapper.AddChild(el)
	return nil
}

// Reference returns the SecurityTokenReference naming the assertion of
// kind k with identifier id, as WCF writes it: the wsse11:TokenType
// attribute and a KeyIdentifier whose text is the ID.
func Reference(k Kind, id string) *etree.Element {
	str := etree.NewElement(wss.PrefixWSSE + ":SecurityTokenReference")
	str.CreateAttr("xmlns:"+wss.PrefixWSSE, wss.NSWSSE)
	str.CreateAttr("xmlns:k", wss.NSWSSE11)
	str.CreateAttr("k:TokenType", k.TokenType())
	ki := str.CreateElement(wss.PrefixWSSE + ":KeyIdentifier")
	ki.CreateAttr("ValueType", k.ValueType())
	ki.SetText(id)
	return str
}

// Response is an issued-token reply as a client reads it.
type Response struct {
	// Response holds what wire/wssc reads from any RSTR: the proof token,
	// server entropy, Lifetime and KeySize; its Key method gives the
	// proof key.
	*wssc.Response
	// Token is the assertion exactly as received, to be sent on unchanged.
	Token xmldoc.Fragment
	// Assertion is what the client reads from it, unverified: the client
	// cannot check the issuer's signature and has no need to.
	Assertion *Assertion
}

// ParseResponse reads the reply to an Issue request for a SAML token:
// an RSTR, or a collection holding exactly one, whose RequestedSecurityToken
// holds exactly one assertion, kept byte for byte (doc must have been
// parsed with KeepSpans). The rest is read by wssc.ParseResponse, with the
// RequestedSecurityToken set aside since that parser knows only SCTs.
func ParseResponse(doc *xmldoc.Doc, payload *etree.Element, v wssc.Version) (*Response, error) {
	rstr := payload
	if xmldoc.Is(payload, trustName(v, "RequestSecurityTokenResponseCollection")) {
		var err error
		if rstr, err = xmldoc.One(payload, trustName(v, "RequestSecurityTokenResponse")); err != nil {
			return nil, wrap(err)
		}
	}
	rst, err := xmldoc.One(rstr, trustName(v, "RequestedSecurityToken"))
	if err != nil {
		return nil, fmt.Errorf("saml: the reply carries no token: %w", err)
	}
	kids := rst.ChildElements()
	if len(kids) != 1 {
		return nil, fmt.Errorf("saml: RequestedSecurityToken holds %d elements, expected 1", len(kids))
	}
	if doc == nil {
		return nil, errors.New("saml: the parsed document is needed to keep the token")
	}
	out := &Response{}
	if out.Assertion, err = Parse(kids[0]); err != nil {
		return nil, err
	}
	if out.Token, err = doc.Fragment(kids[0]); err != nil {
		return nil, wrap(err)
	}
	err = aside(rst, func() error {
		var err error
		out.Response, err = wssc.ParseResponse(doc, payload, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	if tt := out.TokenType; tt != "" && tt != out.Assertion.Kind.TokenType() && !(out.Assertion.Kind == SAML20 && tt == NS) {
		return nil, fmt.Errorf("saml: the reply's token type %q does not match its %s assertion", tt, out.Assertion.Kind)
	}
	if out.Cancelled {
		return nil, errors.New("saml: an Issue reply says RequestedTokenCancelled")
	}
	return out, nil
}

// Referenced returns the one assertion in the subtree of root that str
// names by KeyIdentifier: a SAML 2.0 Assertion whose ID is the value for
// ValueType SAMLID, a SAML 1.1 one whose AssertionID is for
// SAMLAssertionID. No such assertion, or several (a wrapping attack's
// decoy), is an error.
func Referenced(root *etree.Element, str *wss.STR) (*etree.Element, Kind, error) {
	k := str.KeyIdentifier
	if k == nil {
		return nil, 0, errors.New("saml: the token reference is not a KeyIdentifier")
	}
	var kind Kind
	switch k.ValueType {
	case SAML20.ValueType():
		kind = SAML20
	case SAML11.ValueType():
		kind = SAML11
	default:
		return nil, 0, fmt.Errorf("saml: KeyIdentifier ValueType %q does not name an assertion", k.ValueType)
	}
	name := Name("Assertion")
	if kind == SAML11 {
		name = name11("Assertion")
	}
	var found []*etree.Element
	xmldoc.Walk(root, func(e *etree.Element) {
		if id, ok := xmldoc.Attr(e, kind.IDAttr()); ok && id == string(k.Value) && xmldoc.Is(e, name) {
			found = append(found, e)
		}
	})
	if len(found) != 1 {
		return nil, kind, fmt.Errorf("saml: the KeyIdentifier %q names %d assertions, expected 1", k.Value, len(found))
	}
	return found[0], kind, nil
}
