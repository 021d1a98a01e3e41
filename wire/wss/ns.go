package wss

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Namespaces of SOAP Message Security 1.0 and 1.1.
const (
	// NSWSSE is the wsse namespace of SOAP Message Security 1.0; 1.1 kept it
	// for every element it did not add.
	NSWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	// NSWSSE11 holds what SOAP Message Security 1.1 added, such as the
	// TokenType attribute of a SecurityTokenReference.
	NSWSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
	// NSWSU is the utility namespace of wsu:Id, Timestamp, Created and Expires.
	NSWSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
)

// URIs of the token profiles.
const (
	// ValueTypeX509v3 marks a BinarySecurityToken holding one DER
	// certificate (X.509 Token Profile 1.1 §3.1).
	ValueTypeX509v3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
	// EncodingBase64Binary is the EncodingType of base64 token and nonce
	// content (SOAP Message Security 1.1 §6.3); UsernameToken nonces use it
	// too (UsernameToken Profile 1.1 §3.1).
	EncodingBase64Binary = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
	// PasswordText is the Password Type of a clear-text password.
	PasswordText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	// PasswordDigest is the Password Type of Base64(SHA-1(nonce + created + password)).
	PasswordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)

// KeyIdentifier ValueTypes servers send, and the TokenType WSS4J writes on
// references to SCTs.
const (
	// ValueTypeEncryptedKeySHA1 identifies an EncryptedKey by the SHA-1 of
	// its key (SOAP Message Security 1.1 §7.3); Mono and WCF responses
	// reference their message keys this way.
	ValueTypeEncryptedKeySHA1 = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKeySHA1"
	// ValueTypeThumbprintSHA1 identifies a certificate by the SHA-1 of its
	// DER encoding (X.509 Token Profile 1.1 §3.2).
	ValueTypeThumbprintSHA1 = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1"
	// ValueTypeX509SKI identifies a certificate by its subject key
	// identifier extension (X.509 Token Profile 1.1 §3.2).
	ValueTypeX509SKI = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier"
	// ValueTypeSAMLAssertionID and ValueTypeSAMLID identify SAML 1.1 and 2.0
	// assertions by ID (SAML Token Profile 1.1 §3.4); their value is the ID
	// as text, with no EncodingType.
	ValueTypeSAMLAssertionID = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-saml-token-profile-1.0#SAMLAssertionID"
	ValueTypeSAMLID          = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID"
	// TokenTypeEncryptedKey is the wsse11:TokenType WSS4J puts on the
	// reference from a DerivedKeyToken to an SCT; readers ignore it.
	TokenTypeEncryptedKey = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"
)

// Prefixes scproxy writes. They are WCF's, so that built messages read like
// the captures they are compared with; readers never look at prefixes.
const (
	PrefixWSSE = "o"
	PrefixWSU  = "u"
)

// Names of the elements and attributes this package reads and writes.
var (
	NameSecurity               = xmldoc.Name{Space: NSWSSE, Local: "Security"}
	NameTimestamp              = xmldoc.Name{Space: NSWSU, Local: "Timestamp"}
	NameCreated                = xmldoc.Name{Space: NSWSU, Local: "Created"}
	NameExpires                = xmldoc.Name{Space: NSWSU, Local: "Expires"}
	NameID                     = xmldoc.Name{Space: NSWSU, Local: "Id"}
	NameUsernameToken          = xmldoc.Name{Space: NSWSSE, Local: "UsernameToken"}
	NameUsername               = xmldoc.Name{Space: NSWSSE, Local: "Username"}
	NamePassword               = xmldoc.Name{Space: NSWSSE, Local: "Password"}
	NameNonce                  = xmldoc.Name{Space: NSWSSE, Local: "Nonce"}
	NameBinarySecurityToken    = xmldoc.Name{Space: NSWSSE, Local: "BinarySecurityToken"}
	NameSecurityTokenReference = xmldoc.Name{Space: NSWSSE, Local: "SecurityTokenReference"}
	NameReference              = xmldoc.Name{Space: NSWSSE, Local: "Reference"}
	NameKeyIdentifier          = xmldoc.Name{Space: NSWSSE, Local: "KeyIdentifier"}
	NameTokenType              = xmldoc.Name{Space: NSWSSE11, Local: "TokenType"}
)

// Unqualified attribute names.
var (
	attrType         = xmldoc.Name{Local: "Type"}
	attrURI          = xmldoc.Name{Local: "URI"}
	attrValueType    = xmldoc.Name{Local: "ValueType"}
	attrEncodingType = xmldoc.Name{Local: "EncodingType"}
)

// newElement returns a detached element prefix:local that declares prefix
// for uri, the shape every builder here starts from.
func newElement(prefix, uri, local string) *etree.Element {
	el := etree.NewElement(prefix + ":" + local)
	el.CreateAttr("xmlns:"+prefix, uri)
	return el
}

// child appends prefix:local with text to parent.
func child(parent *etree.Element, prefix, local, text string) *etree.Element {
	c := parent.CreateElement(prefix + ":" + local)
	if text != "" {
		c.SetText(text)
	}
	return c
}

// DecodeBase64 decodes xs:base64Binary element content. XML allows line
// breaks and indentation inside it (pretty-printers and some stacks wrap
// long values), so XML whitespace is removed first. Padding is required;
// non-zero bits in the final padding group are tolerated, as .NET's decoder
// does, since a peer's sloppy encoder is not an attack.
func DecodeBase64(text string) ([]byte, error) {
	clean := text
	if strings.ContainsAny(text, " \t\r\n") { // a large CipherValue rarely has any
		clean = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, text)
	}
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}
