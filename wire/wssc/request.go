package wssc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Request is a RequestSecurityToken as an issuer reads it (WS-Trust 1.3
// §4.1 for Issue, §5 for Renew, §6 for Cancel). Fields the request did not
// carry are zero: no TokenType (WCF's Cancel has none), no entropy
// (server-entropy mode), no KeySize (the issuer's default applies).
type Request struct {
	Version   Version
	Operation Operation
	TokenType string
	// ClientEntropy is the requestor's Entropy/BinarySecret, nil when absent.
	ClientEntropy []byte
	// KeySize is the requested key size in bits, 0 when absent.
	KeySize int
	// ComputedKeyAlgorithm is the requested algorithm URI, "" when absent
	// (P_SHA1 is then the default, WS-Trust 1.3 §9.2).
	ComputedKeyAlgorithm string
	// Target is the RenewTarget or CancelTarget; zero for Issue.
	Target ContextRef
}

// rstChildren are the RST children an issuer reads; one of them in a
// foreign namespace is a version mismatch, not an extension to skip.
var rstChildren = []string{
	"TokenType", "RequestType", "Entropy", "KeySize", "ComputedKeyAlgorithm",
	"RenewTarget", "CancelTarget",
}

// ParseRequest reads a RequestSecurityToken payload (the child of the SOAP
// Body) in version v. RequestType is required and decides the operation;
// Renew needs a RenewTarget and Cancel a CancelTarget, each a reference to
// the context by Identifier. Every child scproxy reads occurs at most once;
// unknown extension elements are ignored, as WS-Trust 1.3 §4.1 allows.
// The request is not checked against the action it came with: see
// (*Request).Expect.
func ParseRequest(payload *etree.Element, v Version) (*Request, error) {
	if !v.valid() {
		return nil, errors.New("wssc: no version")
	}
	if payload.Tag != "RequestSecurityToken" {
		return nil, fmt.Errorf("wssc: expected a RequestSecurityToken, got %s", xmldoc.NameOf(payload))
	}
	if ns := payload.NamespaceURI(); ns != v.trust {
		return nil, &NamespaceError{Element: payload.Tag, Got: ns, Want: v.trust}
	}
	for _, c := range payload.ChildElements() {
		if ns := c.NamespaceURI(); ns != v.trust && slices.Contains(rstChildren, c.Tag) {
			return nil, &NamespaceError{Element: c.Tag, Got: ns, Want: v.trust}
		}
	}
	r := &Request{Version: v}
	steps := []func(*etree.Element) error{r.parseRequestType, r.parseTokenType, r.parseEntropy, r.parseKeySize, r.parseAlgorithm, r.parseTarget}
	for _, step := range steps {
		if err := step(payload); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// text returns the trimmed text of the optional trust child local, and
// whether it was there.
func (v Version) text(el *etree.Element, local string) (string, bool, error) {
	c, err := v.optional(el, local)
	if err != nil || c == nil {
		return "", false, err
	}
	return xmldoc.Text(c), true, nil
}

func (r *Request) parseRequestType(rst *etree.Element) error {
	v := r.Version
	rt, ok, err := v.text(rst, "RequestType")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("wssc: request has no RequestType")
	}
	for _, op := range []Operation{Issue, Renew, Cancel} {
		if rt == v.RequestType(op) {
			r.Operation = op
			return nil
		}
	}
	if other, ok := VersionOf(strings.TrimSuffix(rt, "/"+lastSegment(rt))); ok && other != v {
		return &NamespaceError{Element: "RequestType " + rt, Got: other.trust, Want: v.trust}
	}
	return fmt.Errorf("wssc: unsupported RequestType %q", rt)
}

func lastSegment(uri string) string {
	if i := strings.LastIndexByte(uri, '/'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

func (r *Request) parseTokenType(rst *etree.Element) error {
	tt, ok, err := r.Version.text(rst, "TokenType")
	if err != nil || !ok {
		return err
	}
	if tt != r.Version.TokenType() {
		return fmt.Errorf("wssc: requested token type %q is not %q", tt, r.Version.TokenType())
	}
	r.TokenType = tt
	return nil
}

// parseEntropy reads Entropy/BinarySecret of Type Nonce (or no Type). An
// encrypted entropy (xenc:EncryptedKey, used by message-security
// bootstraps) is refused: this issuer has no private key to open it.
func (r *Request) parseEntropy(rst *etree.Element) error {
	v := r.Version
	ent, err := v.optional(rst, "Entropy")
	if err != nil || ent == nil {
		return err
	}
	kids := ent.ChildElements()
	if len(kids) != 1 || !xmldoc.Is(kids[0], v.tname("BinarySecret")) {
		return fmt.Errorf("wssc: client Entropy must hold exactly one %s", v.tname("BinarySecret"))
	}
	if r.ClientEntropy, err = v.binarySecret(kids[0], v.NonceType()); err != nil {
		return fmt.Errorf("wssc: client entropy: %w", err)
	}
	if n := len(r.ClientEntropy) * 8; n < keys.MinKeyBits || n > keys.MaxKeyBits {
		return fmt.Errorf("wssc: client entropy of %d bits is outside [%d, %d]", n, keys.MinKeyBits, keys.MaxKeyBits)
	}
	return nil
}

func (r *Request) parseKeySize(rst *etree.Element) error {
	n, err := r.Version.keySize(rst)
	if err != nil {
		return fmt.Errorf("wssc: request: %w", err)
	}
	r.KeySize = n
	return nil
}

func (r *Request) parseAlgorithm(rst *etree.Element) error {
	alg, ok, err := r.Version.text(rst, "ComputedKeyAlgorithm")
	if err != nil || !ok {
		return err
	}
	if alg != r.Version.ComputedKeyPSHA1() {
		return &UnsupportedProofTokenError{Kind: "ComputedKeyAlgorithm " + alg}
	}
	r.ComputedKeyAlgorithm = alg
	return nil
}

// parseTarget reads the RenewTarget or CancelTarget the operation needs,
// and refuses the other one: a Cancel that names a RenewTarget is
// ambiguous about which context it acts on.
func (r *Request) parseTarget(rst *etree.Element) error {
	v := r.Version
	for _, local := range []string{"RenewTarget", "CancelTarget"} {
		wrap, err := v.optional(rst, local)
		if err != nil {
			return err
		}
		want := (local == "RenewTarget" && r.Operation == Renew) || (local == "CancelTarget" && r.Operation == Cancel)
		switch {
		case wrap == nil && want:
			return fmt.Errorf("wssc: %s request has no %s", r.Operation, local)
		case wrap == nil:
			continue
		case !want:
			return fmt.Errorf("wssc: %s request carries a %s", r.Operation, local)
		}
		str, err := xmldoc.One(wrap, wss.NameSecurityTokenReference)
		if err != nil {
			return fmt.Errorf("wssc: %s: %w", local, err)
		}
		if n := len(wrap.ChildElements()); n != 1 {
			return fmt.Errorf("wssc: %s holds %d elements, expected 1", local, n)
		}
		if r.Target, err = v.ParseContextRef(str); err != nil {
			return fmt.Errorf("wssc: %s: %w", local, err)
		}
	}
	return nil
}

// Expect checks that the request is for op, the operation its action
// announced; an Issue request asking for another token type was refused
// by ParseRequest already.
func (r *Request) Expect(op Operation) error {
	if r.Operation != op {
		return fmt.Errorf("wssc: RequestType %s does not match the %s action", r.Operation, op)
	}
	return nil
}
