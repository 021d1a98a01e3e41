package wssc

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// NSDotNetSecurity is WCF's own security namespace, home of the dnse:Cookie
// that carries a stateful session inside the SCT.
const NSDotNetSecurity = "http://schemas.microsoft.com/ws/2006/05/security"

// SCT is a SecurityContextToken as the server issued it
// (WS-SecureConversation 1.3 §3). Fragment holds its exact bytes, to be sent
// back unchanged; the other fields are read from it for the client's own use.
type SCT struct {
	Fragment   xmldoc.Fragment
	ID         string // wsu:Id, the target of attached references
	Identifier string // the context's absolute URI
	Instance   string // the key instance after a renewal (1.3), or ""
	Cookie     bool   // WCF keeps the session state in a dnse:Cookie
}

// Lifetime is the validity period the server states for the token. A bound
// not given is the zero time.
type Lifetime struct {
	Created, Expires time.Time
}

// ProofKind says how the response conveys the key.
type ProofKind int

const (
	// NoProof: no RequestedProofToken; with no server entropy either, the
	// client's entropy is the key.
	NoProof ProofKind = iota
	// ComputedKey: the key is P_SHA1 of client and server entropy.
	ComputedKey
	// BinarySecretProof: the server sent the key itself.
	BinarySecretProof
)

// Response is a parsed RequestSecurityTokenResponse (WS-Trust 1.3 §4.4):
// the answer to Issue and Renew, or, with Cancelled set, to Cancel.
type Response struct {
	Version       Version
	TokenType     string
	Token         *SCT // nil when the response carries no token
	Attached      *wss.STR
	Unattached    *wss.STR
	Proof         ProofKind
	ProofSecret   []byte // the key of a BinarySecretProof
	ServerEntropy []byte
	Lifetime      Lifetime
	KeySize       int // bits, 0 when absent
	Cancelled     bool
}

// NamespaceError reports an element in the namespace of another version (or
// of nothing scproxy knows): the commonest misconfiguration, February 2005
// against 1.3.
type NamespaceError struct {
	Element string
	Got     string
	Want    string
}

func (e *NamespaceError) Error() string {
	return fmt.Sprintf("wssc: %s is in namespace %q, expected %q", e.Element, e.Got, e.Want)
}

// UnsupportedProofTokenError reports a RequestedProofToken scproxy cannot
// use, such as an EncryptedKey (which needs the client's private key) or a
// ComputedKey algorithm other than P_SHA1.
type UnsupportedProofTokenError struct {
	Kind string // the element name, or the ComputedKey URI
}

func (e *UnsupportedProofTokenError) Error() string {
	return "wssc: unsupported proof token " + e.Kind
}

// ParseResponse reads a response payload, the child of the SOAP Body, in
// version v: a RequestSecurityTokenResponse, or a
// RequestSecurityTokenResponseCollection holding exactly one (the body of
// WCF's 1.3 Issue and Renew replies; WCF's negotiations use it in February
// 2005 too). A collection of several is refused, as WCF refuses it: which
// token to keep would be the attacker's choice. doc is the parsed message,
// which must have been parsed with KeepSpans so that the SCT can be kept
// byte for byte. The result is not checked against the operation asked
// for; see Expect.
func ParseResponse(doc *xmldoc.Doc, payload *etree.Element, v Version) (*Response, error) {
	if !v.valid() {
		return nil, errors.New("wssc: no version")
	}
	rstr, err := v.unwrap(payload)
	if err != nil {
		return nil, err
	}
	r := &Response{Version: v}
	if err := r.parse(doc, rstr); err != nil {
		return nil, err
	}
	return r, nil
}

// unwrap finds the single RSTR of a payload, checking its namespace.
func (v Version) unwrap(payload *etree.Element) (*etree.Element, error) {
	switch payload.Tag {
	case "RequestSecurityTokenResponse", "RequestSecurityTokenResponseCollection":
	default:
		return nil, fmt.Errorf("wssc: expected a RequestSecurityTokenResponse, got %s", xmldoc.NameOf(payload))
	}
	if ns := payload.NamespaceURI(); ns != v.trust {
		return nil, &NamespaceError{Element: payload.Tag, Got: ns, Want: v.trust}
	}
	if payload.Tag == "RequestSecurityTokenResponse" {
		return payload, nil
	}
	rstr := v.tname("RequestSecurityTokenResponse")
	n := len(payload.ChildElements())
	if n != len(xmldoc.Children(payload, rstr)) {
		return nil, errors.New("wssc: response collection holds elements other than RequestSecurityTokenResponse")
	}
	if n != 1 {
		return nil, fmt.Errorf("wssc: response collection holds %d responses, expected 1", n)
	}
	return payload.ChildElements()[0], nil
}

func (r *Response) parse(doc *xmldoc.Doc, rstr *etree.Element) error {
	v := r.Version
	steps := []func(*xmldoc.Doc, *etree.Element) error{
		r.checkNamespaces, r.parseTokenType, r.parseToken, r.parseReferences, r.parseProof,
		r.parseEntropy, r.parseLifetime, r.parseKeySize, r.parseCancelled,
	}
	for _, step := range steps {
		if err := step(doc, rstr); err != nil {
			return err
		}
	}
	if r.Proof == ComputedKey && r.ServerEntropy == nil {
		return errors.New("wssc: response asks for a computed key but carries no server entropy")
	}
	if r.Proof == BinarySecretProof && r.ServerEntropy != nil {
		return errors.New("wssc: response carries both a key and server entropy")
	}
	if r.Token != nil && r.TokenType != "" && r.TokenType != v.TokenType() {
		return fmt.Errorf("wssc: response token type %q is not %q", r.TokenType, v.TokenType())
	}
	return nil
}

// rstrChildren are the RSTR children scproxy reads.
var rstrChildren = []string{
	"TokenType", "RequestedSecurityToken", "RequestedAttachedReference",
	"RequestedUnattachedReference", "RequestedProofToken", "Entropy",
	"Lifetime", "KeySize", "RequestedTokenCancelled",
}

// checkNamespaces refuses a known RSTR child in a foreign namespace: it
// would otherwise be skipped silently, and a token or key that is there but
// unread is a version mismatch worth naming.
func (r *Response) checkNamespaces(_ *xmldoc.Doc, rstr *etree.Element) error {
	for _, c := range rstr.ChildElements() {
		if ns := c.NamespaceURI(); ns != r.Version.trust && slices.Contains(rstrChildren, c.Tag) {
			return &NamespaceError{Element: c.Tag, Got: ns, Want: r.Version.trust}
		}
	}
	return nil
}

// optional returns the single trust child local of el, or nil.
func (v Version) optional(el *etree.Element, local string) (*etree.Element, error) {
	c, err := xmldoc.Optional(el, v.tname(local))
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	return c, nil
}

func (r *Response) parseTokenType(_ *xmldoc.Doc, rstr *etree.Element) error {
	tt, err := r.Version.optional(rstr, "TokenType")
	if tt != nil {
		r.TokenType = xmldoc.Text(tt)
	}
	return err
}

func (r *Response) parseToken(doc *xmldoc.Doc, rstr *etree.Element) error {
	rst, err := r.Version.optional(rstr, "RequestedSecurityToken")
	if err != nil || rst == nil {
		return err
	}
	kids := rst.ChildElements()
	if len(kids) != 1 {
		return fmt.Errorf("wssc: RequestedSecurityToken holds %d elements, expected 1", len(kids))
	}
	r.Token, err = ParseSCT(doc, kids[0], r.Version)
	return err
}

// ParseSCT reads a SecurityContextToken of version v, wherever it sits (in
// an RSTR or in a Security header), and records its exact bytes, which is
// why doc, parsed with KeepSpans, is needed. The Identifier is required and
// at most one Instance is accepted.
func ParseSCT(doc *xmldoc.Doc, el *etree.Element, v Version) (*SCT, error) {
	want := v.sname("SecurityContextToken")
	if el.Tag != want.Local {
		return nil, fmt.Errorf("wssc: issued token %s is not a SecurityContextToken", xmldoc.NameOf(el))
	}
	if ns := el.NamespaceURI(); ns != want.Space {
		return nil, &NamespaceError{Element: el.Tag, Got: ns, Want: want.Space}
	}
	if doc == nil {
		return nil, errors.New("wssc: the parsed document is needed to keep the token")
	}
	frag, err := doc.Fragment(el)
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	t := &SCT{Fragment: frag}
	t.ID, _ = wss.ID(el)
	id, err := xmldoc.One(el, v.sname("Identifier"))
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	if t.Identifier = xmldoc.Text(id); t.Identifier == "" {
		return nil, errors.New("wssc: empty SecurityContextToken Identifier")
	}
	inst, err := xmldoc.Optional(el, v.sname("Instance"))
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	if inst != nil {
		t.Instance = xmldoc.Text(inst)
	}
	t.Cookie = len(xmldoc.Children(el, xmldoc.Name{Space: NSDotNetSecurity, Local: "Cookie"})) > 0
	return t, nil
}

func (r *Response) parseReferences(_ *xmldoc.Doc, rstr *etree.Element) error {
	var err error
	if r.Attached, err = r.Version.reference(rstr, "RequestedAttachedReference"); err != nil {
		return err
	}
	r.Unattached, err = r.Version.reference(rstr, "RequestedUnattachedReference")
	return err
}

func (v Version) reference(rstr *etree.Element, local string) (*wss.STR, error) {
	wrap, err := v.optional(rstr, local)
	if err != nil || wrap == nil {
		return nil, err
	}
	str, err := xmldoc.One(wrap, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, fmt.Errorf("wssc: %s: %w", local, err)
	}
	s, err := wss.ParseSTR(str)
	if err != nil {
		return nil, fmt.Errorf("wssc: %s: %w", local, err)
	}
	return s, nil
}

func (r *Response) parseProof(_ *xmldoc.Doc, rstr *etree.Element) error {
	v := r.Version
	rpt, err := v.optional(rstr, "RequestedProofToken")
	if err != nil || rpt == nil {
		return err
	}
	kids := rpt.ChildElements()
	if len(kids) != 1 {
		return fmt.Errorf("wssc: RequestedProofToken holds %d elements, expected 1", len(kids))
	}
	switch k := kids[0]; {
	case xmldoc.Is(k, v.tname("ComputedKey")):
		if uri := xmldoc.Text(k); uri != v.ComputedKeyPSHA1() {
			return &UnsupportedProofTokenError{Kind: "ComputedKey " + uri}
		}
		r.Proof = ComputedKey
	case xmldoc.Is(k, v.tname("BinarySecret")):
		if r.ProofSecret, err = v.binarySecret(k, v.SymmetricKeyType()); err != nil {
			return fmt.Errorf("wssc: proof token: %w", err)
		}
		r.Proof = BinarySecretProof
	default:
		return &UnsupportedProofTokenError{Kind: xmldoc.NameOf(k).String()}
	}
	return nil
}

// binarySecret decodes a BinarySecret whose Type, when present, is want.
func (v Version) binarySecret(el *etree.Element, want string) ([]byte, error) {
	if typ, ok := xmldoc.Attr(el, xmldoc.Name{Local: "Type"}); ok && typ != want {
		return nil, fmt.Errorf("BinarySecret Type %q, expected %q", typ, want)
	}
	b, err := wss.DecodeBase64(el.Text())
	if err != nil {
		return nil, fmt.Errorf("BinarySecret: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("empty BinarySecret")
	}
	return b, nil
}

func (r *Response) parseEntropy(_ *xmldoc.Doc, rstr *etree.Element) error {
	v := r.Version
	ent, err := v.optional(rstr, "Entropy")
	if err != nil || ent == nil {
		return err
	}
	bs, err := xmldoc.One(ent, v.tname("BinarySecret"))
	if err != nil {
		return fmt.Errorf("wssc: server entropy: %w", err)
	}
	if n := len(ent.ChildElements()); n != 1 {
		return fmt.Errorf("wssc: server Entropy holds %d elements, expected 1", n)
	}
	if r.ServerEntropy, err = v.binarySecret(bs, v.NonceType()); err != nil {
		return fmt.Errorf("wssc: server entropy: %w", err)
	}
	return nil
}

func (r *Response) parseLifetime(_ *xmldoc.Doc, rstr *etree.Element) error {
	lt, err := r.Version.optional(rstr, "Lifetime")
	if err != nil || lt == nil {
		return err
	}
	for _, f := range []struct {
		name xmldoc.Name
		dst  *time.Time
	}{{wss.NameCreated, &r.Lifetime.Created}, {wss.NameExpires, &r.Lifetime.Expires}} {
		el, err := xmldoc.Optional(lt, f.name)
		if err != nil {
			return fmt.Errorf("wssc: lifetime: %w", err)
		}
		if el == nil {
			continue
		}
		if *f.dst, err = wss.ParseTime(xmldoc.Text(el)); err != nil {
			return fmt.Errorf("wssc: lifetime %s: %w", f.name.Local, err)
		}
	}
	c, e := r.Lifetime.Created, r.Lifetime.Expires
	if !c.IsZero() && !e.IsZero() && e.Before(c) {
		return fmt.Errorf("wssc: lifetime expires (%s) before it starts (%s)", wss.FormatTime(e), wss.FormatTime(c))
	}
	return nil
}

func (r *Response) parseKeySize(_ *xmldoc.Doc, rstr *etree.Element) error {
	n, err := r.Version.keySize(rstr)
	if err != nil {
		return fmt.Errorf("wssc: response: %w", err)
	}
	r.KeySize = n
	return nil
}

// keySize reads the optional KeySize child of el: bits, 0 when absent,
// bounded by keys.CheckKeyBits since the value comes from the peer.
func (v Version) keySize(el *etree.Element) (int, error) {
	text, ok, err := v.text(el, "KeySize")
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.Atoi(text)
	if err != nil || strings.HasPrefix(text, "+") {
		return 0, fmt.Errorf("KeySize %q is not a number", text)
	}
	if err := keys.CheckKeyBits(n); err != nil {
		return 0, err
	}
	return n, nil
}

func (r *Response) parseCancelled(_ *xmldoc.Doc, rstr *etree.Element) error {
	c, err := r.Version.optional(rstr, "RequestedTokenCancelled")
	r.Cancelled = c != nil
	return err
}

// Expect checks that r is a complete answer to op: an Issue or Renew reply
// carries a security context token and does not claim a cancellation; a
// Cancel reply carries RequestedTokenCancelled (WS-Trust 1.3 §6) and no
// token. ParseResponse accepts any well-formed RSTR; the caller, which
// knows what it asked, calls Expect.
func (r *Response) Expect(op Operation) error {
	switch op {
	case Issue, Renew:
		if r.Token == nil {
			return fmt.Errorf("wssc: %s reply carries no security context token", op)
		}
		if r.Cancelled {
			return fmt.Errorf("wssc: %s reply says RequestedTokenCancelled", op)
		}
	case Cancel:
		if !r.Cancelled {
			return errors.New("wssc: Cancel reply lacks RequestedTokenCancelled")
		}
		if r.Token != nil {
			return errors.New("wssc: Cancel reply carries a new token")
		}
	default:
		return fmt.Errorf("wssc: unknown operation %s", op)
	}
	return nil
}

// Key returns the session key for a response to a request that sent
// clientEntropy (nil when none was sent):
//   - ComputedKey: P_SHA1(client entropy, server entropy) of KeySize bits;
//   - a BinarySecret proof token: the key as given (server entropy mode);
//   - neither, and no server entropy: the client entropy (client mode).
//
// KeySize defaults to DefaultKeySize when the response states none.
func (r *Response) Key(clientEntropy []byte) ([]byte, error) {
	return r.key(clientEntropy, 0)
}

// KeyFor is Key for a response to rst: a computed key is as long as the
// response's KeySize or, when it states none, as rst asked for (WS-Trust
// 1.3 §4.4: the issuer may leave out a size it granted as requested, as
// CXF does for a 128-bit key).
func (r *Response) KeyFor(rst *RST) ([]byte, error) {
	return r.key(rst.ClientEntropy, rst.KeySize)
}

// key is Key with requested, the size in bits the request asked for (0:
// DefaultKeySize), used when the response states none.
func (r *Response) key(clientEntropy []byte, requested int) ([]byte, error) {
	bits := r.KeySize
	if bits == 0 {
		bits = requested
	}
	if bits == 0 {
		bits = DefaultKeySize
	}
	var key []byte
	switch r.Proof {
	case ComputedKey:
		if len(clientEntropy) == 0 {
			return nil, errors.New("wssc: the server computed the key from client entropy, but none was sent")
		}
		k, err := keys.Combined(clientEntropy, r.ServerEntropy, bits)
		if err != nil {
			return nil, fmt.Errorf("wssc: %w", err)
		}
		return k, nil
	case BinarySecretProof:
		key = r.ProofSecret
	default:
		if r.ServerEntropy != nil {
			return nil, errors.New("wssc: response has server entropy but no computed-key proof token")
		}
		if len(clientEntropy) == 0 {
			return nil, errors.New("wssc: response carries no key and no client entropy was sent")
		}
		key = clientEntropy
	}
	if err := keys.CheckKeyBits(len(key) * 8); err != nil {
		return nil, fmt.Errorf("wssc: session key: %w", err)
	}
	return append([]byte(nil), key...), nil
}
