package wss

import (
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// NameSignatureConfirmation is wsse11:SignatureConfirmation.
var NameSignatureConfirmation = xmldoc.Name{Space: NSWSSE11, Local: "SignatureConfirmation"}

// PrefixWSSE11 is the prefix written for NSWSSE11 (WCF's).
const PrefixWSSE11 = "k"

// SignatureConfirmation is a wsse11:SignatureConfirmation (SOAP Message
// Security 1.1 §8.5): a response's statement that it answers a request
// signed with Value. A nil Value is the one confirmation of an unsigned
// request.
type SignatureConfirmation struct {
	ID    string
	Value []byte
}

// Element returns the SignatureConfirmation element, declaring its
// namespace on itself.
func (c SignatureConfirmation) Element() *etree.Element {
	el := newElement(PrefixWSSE11, NSWSSE11, "SignatureConfirmation")
	if c.ID != "" {
		SetID(el, c.ID)
	}
	if c.Value != nil {
		el.CreateAttr("Value", base64.StdEncoding.EncodeToString(c.Value))
	}
	return el
}

// ParseSignatureConfirmation reads a SignatureConfirmation: no child
// elements, an optional base64 Value.
func ParseSignatureConfirmation(el *etree.Element) (SignatureConfirmation, error) {
	var c SignatureConfirmation
	if !xmldoc.Is(el, NameSignatureConfirmation) {
		return c, fmt.Errorf("wss: expected %s, got %s", NameSignatureConfirmation, xmldoc.NameOf(el))
	}
	if len(el.ChildElements()) > 0 {
		return c, fmt.Errorf("wss: SignatureConfirmation has child elements")
	}
	c.ID, _ = ID(el)
	if v, ok := xmldoc.Attr(el, xmldoc.Name{Local: "Value"}); ok {
		b, err := DecodeBase64(v)
		if err != nil || len(b) == 0 {
			return c, fmt.Errorf("wss: SignatureConfirmation Value is not base64")
		}
		c.Value = b
	}
	return c, nil
}

// KeyIdentifierSTR returns a SecurityTokenReference with one
// KeyIdentifier of base64 value (EncodingType Base64Binary), the form of
// EncryptedKeySHA1 and ThumbprintSHA1 references.
func KeyIdentifierSTR(k KeyIdentifier) *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "SecurityTokenReference")
	ki := el.CreateElement(PrefixWSSE + ":KeyIdentifier")
	ki.CreateAttr("ValueType", k.ValueType)
	ki.CreateAttr("EncodingType", EncodingBase64Binary)
	ki.SetText(base64.StdEncoding.EncodeToString(k.Value))
	return el
}
