package wss

import (
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Reference is a direct reference (SOAP Message Security 1.1 §7.2). URI is
// "#id" for a token in the same message, or an absolute URI such as an SCT
// Identifier for a token known out of band; ValueType is optional (WCF's
// February 2005 serializer adds the SCT token type, WSS4J does not).
type Reference struct {
	URI       string
	ValueType string
}

// Local reports whether the reference points into the message ("#...").
func (r Reference) Local() bool { return strings.HasPrefix(r.URI, "#") }

// Target returns the URI without the leading "#" of a local reference. It
// is a wsu:Id, or, in the form WSS4J writes for SCTs, the Identifier URI of
// the token: resolvers try both.
func (r Reference) Target() string { return strings.TrimPrefix(r.URI, "#") }

// KeyIdentifier is a key identifier reference (SOAP Message Security 1.1
// §7.3): a value that identifies a token by ValueType. Value is decoded from
// base64, except for SAML assertion IDs, which are plain text: their
// EncodingType is then empty and Value holds the ID's bytes.
type KeyIdentifier struct {
	ValueType    string
	EncodingType string
	Value        []byte
}

// STR is a parsed wsse:SecurityTokenReference holding either a Reference
// or a KeyIdentifier. TokenType is the wsse11:TokenType attribute as found;
// it is informational only, because WSS4J writes "#EncryptedKey" on
// references to SCTs and a strict reader would reject its messages.
type STR struct {
	ID            string
	TokenType     string
	Reference     *Reference
	KeyIdentifier *KeyIdentifier
}

// ReferenceSTR returns a SecurityTokenReference with one direct Reference.
// Attributes come in the order URI, ValueType (the order of WCF's
// unattached references; canonicalization sorts them anyway), and ValueType
// is left out when empty.
func ReferenceSTR(r Reference) *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "SecurityTokenReference")
	if r.ValueType == TokenTypeEncryptedKey {
		// A reference to an EncryptedKey names the token type on the
		// SecurityTokenReference too, which WSS4J's Basic Security
		// Profile check requires (R5215) and WSS4J itself writes.
		el.CreateAttr("xmlns:"+PrefixWSSE11, NSWSSE11)
		el.CreateAttr(PrefixWSSE11+":TokenType", TokenTypeEncryptedKey)
	}
	ref := el.CreateElement(PrefixWSSE + ":Reference")
	ref.CreateAttr("URI", r.URI)
	if r.ValueType != "" {
		ref.CreateAttr("ValueType", r.ValueType)
	}
	return el
}

// ErrUnsupportedReference is wrapped by ParseSTR for reference forms other
// than Reference and KeyIdentifier (Embedded, X509Data, ...).
var ErrUnsupportedReference = errors.New("unsupported security token reference form")

// ParseSTR reads a SecurityTokenReference. It must hold exactly one child
// element, a Reference with a URI or a KeyIdentifier.
func ParseSTR(el *etree.Element) (*STR, error) {
	if !xmldoc.Is(el, NameSecurityTokenReference) {
		return nil, fmt.Errorf("wss: expected %s, got %s", NameSecurityTokenReference, xmldoc.NameOf(el))
	}
	s := &STR{}
	s.ID, _ = ID(el)
	s.TokenType, _ = xmldoc.Attr(el, NameTokenType)
	kids := el.ChildElements()
	if len(kids) != 1 {
		return nil, fmt.Errorf("wss: security token reference has %d child elements, expected 1", len(kids))
	}
	var err error
	switch k := kids[0]; {
	case xmldoc.Is(k, NameReference):
		s.Reference, err = parseReference(k)
	case xmldoc.Is(k, NameKeyIdentifier):
		s.KeyIdentifier, err = parseKeyIdentifier(k)
	default:
		err = fmt.Errorf("%w: %s", ErrUnsupportedReference, xmldoc.NameOf(k))
	}
	if err != nil {
		return nil, fmt.Errorf("wss: security token reference: %w", err)
	}
	return s, nil
}

func parseReference(el *etree.Element) (*Reference, error) {
	uri, _ := xmldoc.Attr(el, attrURI)
	if strings.TrimPrefix(uri, "#") == "" {
		return nil, errors.New("no URI on Reference")
	}
	vt, _ := xmldoc.Attr(el, attrValueType)
	return &Reference{URI: uri, ValueType: vt}, nil
}

func parseKeyIdentifier(el *etree.Element) (*KeyIdentifier, error) {
	k := &KeyIdentifier{EncodingType: EncodingBase64Binary}
	k.ValueType, _ = xmldoc.Attr(el, attrValueType)
	enc, hasEnc := xmldoc.Attr(el, attrEncodingType)
	if !hasEnc && (k.ValueType == ValueTypeSAMLAssertionID || k.ValueType == ValueTypeSAMLID) {
		id := xmldoc.Text(el)
		if id == "" {
			return nil, errors.New("empty KeyIdentifier")
		}
		return &KeyIdentifier{ValueType: k.ValueType, Value: []byte(id)}, nil
	}
	if hasEnc {
		k.EncodingType = enc
	}
	if k.EncodingType != EncodingBase64Binary {
		return nil, fmt.Errorf("unsupported KeyIdentifier EncodingType %q", k.EncodingType)
	}
	v, err := DecodeBase64(el.Text())
	if err != nil {
		return nil, fmt.Errorf("key identifier: %w", err)
	}
	if len(v) == 0 {
		return nil, errors.New("empty KeyIdentifier")
	}
	k.Value = v
	return k, nil
}
