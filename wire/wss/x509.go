package wss

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// X509Token returns a wsse:BinarySecurityToken carrying the DER certificate
// der (X.509 Token Profile 1.1 §3.1), with wsu:Id id when id is not empty.
func X509Token(id string, der []byte) *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "BinarySecurityToken")
	if id != "" {
		el.CreateAttr("xmlns:"+PrefixWSU, NSWSU)
		el.CreateAttr(PrefixWSU+":Id", id)
	}
	el.CreateAttr("ValueType", ValueTypeX509v3)
	el.CreateAttr("EncodingType", EncodingBase64Binary)
	el.SetText(base64.StdEncoding.EncodeToString(der))
	return el
}

// ParseX509Token reads a BinarySecurityToken of ValueType X509v3 into its
// certificate. EncodingType may be omitted (base64 is the default of SOAP
// Message Security 1.1 §6.3) but no other encoding is accepted.
func ParseX509Token(el *etree.Element) (*x509.Certificate, error) {
	if !xmldoc.Is(el, NameBinarySecurityToken) {
		return nil, fmt.Errorf("wss: expected %s, got %s", NameBinarySecurityToken, xmldoc.NameOf(el))
	}
	if vt, _ := xmldoc.Attr(el, attrValueType); vt != ValueTypeX509v3 {
		return nil, fmt.Errorf("wss: binary security token ValueType %q is not X509v3", vt)
	}
	if enc, ok := xmldoc.Attr(el, attrEncodingType); ok && enc != EncodingBase64Binary {
		return nil, fmt.Errorf("wss: binary security token EncodingType %q is not Base64Binary", enc)
	}
	der, err := DecodeBase64(el.Text())
	if err != nil {
		return nil, fmt.Errorf("wss: binary security token: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wss: binary security token: %w", err)
	}
	return cert, nil
}
