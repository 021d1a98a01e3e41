package wss

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ValueTypeGSSKerberosAPREQ marks a BinarySecurityToken holding a Kerberos
// AP-REQ in its GSS-API framing (Kerberos Token Profile 1.1 §3.1), the
// form WCF and WSS4J send. References to the token carry it too.
const ValueTypeGSSKerberosAPREQ = "http://docs.oasis-open.org/wss/oasis-wss-kerberos-token-profile-1.1#GSS_Kerberosv5_AP_REQ"

// gssKerberosOID is the DER encoding (tag, length, value) of the Kerberos V5
// mechanism OID 1.2.840.113554.1.2.2 (RFC 1964 §1).
var gssKerberosOID = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// gssAPREQTokenID is TOK_ID of an initial context token carrying an AP-REQ
// (RFC 4121 §4.1).
var gssAPREQTokenID = []byte{0x01, 0x00}

// Tags of the DER values the framing holds: the GSS-API
// InitialContextToken ([APPLICATION 0], RFC 2743 §3.1) and the AP-REQ
// ([APPLICATION 14], RFC 4120 §5.5.1).
const (
	tagInitialContextToken = 0x60
	tagAPREQ               = 0x6e
)

// maxGSSToken bounds the token accepted; real AP-REQs are a few kilobytes,
// with an Active Directory PAC up to some tens.
const maxGSSToken = 64 << 10

// WrapGSSKerberosAPREQ frames a DER AP-REQ as a GSS-API initial context
// token: [APPLICATION 0] { OID 1.2.840.113554.1.2.2, TOK_ID 01 00, AP-REQ }.
func WrapGSSKerberosAPREQ(apreq []byte) []byte {
	inner := len(gssKerberosOID) + len(gssAPREQTokenID) + len(apreq)
	out := append([]byte{tagInitialContextToken}, derLength(inner)...)
	out = append(out, gssKerberosOID...)
	out = append(out, gssAPREQTokenID...)
	return append(out, apreq...)
}

// UnwrapGSSKerberosAPREQ returns the DER AP-REQ inside a GSS-API initial
// context token. It is strict: the outer length must cover the token
// exactly, the mechanism must be Kerberos V5, the token an AP-REQ, and the
// AP-REQ's own DER length must end where the token ends.
func UnwrapGSSKerberosAPREQ(tok []byte) ([]byte, error) {
	if len(tok) > maxGSSToken {
		return nil, fmt.Errorf("wss: GSS token of %d bytes exceeds %d", len(tok), maxGSSToken)
	}
	body, err := derValue(tok, tagInitialContextToken)
	if err != nil {
		return nil, fmt.Errorf("wss: GSS token: %w", err)
	}
	if !bytes.HasPrefix(body, gssKerberosOID) {
		return nil, errors.New("wss: GSS token: the mechanism is not Kerberos V5 (1.2.840.113554.1.2.2)")
	}
	body = body[len(gssKerberosOID):]
	if !bytes.HasPrefix(body, gssAPREQTokenID) {
		return nil, errors.New("wss: GSS token: not an AP-REQ (TOK_ID 01 00)")
	}
	apreq := body[len(gssAPREQTokenID):]
	if _, err := derValue(apreq, tagAPREQ); err != nil {
		return nil, fmt.Errorf("wss: GSS token: AP-REQ: %w", err)
	}
	return apreq, nil
}

// derLength encodes n as a DER definite length.
func derLength(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	var b []byte
	for v := n; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return append([]byte{0x80 | byte(len(b))}, b...)
}

// derValue checks that b is exactly one DER value with tag and returns its
// contents. Lengths must be definite and minimally encoded.
func derValue(b []byte, tag byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, errors.New("truncated")
	}
	if b[0] != tag {
		return nil, fmt.Errorf("tag 0x%02x, want 0x%02x", b[0], tag)
	}
	n, hdr := int(b[1]), 2
	if b[1]&0x80 != 0 {
		size := int(b[1] & 0x7f)
		switch {
		case size == 0:
			return nil, errors.New("indefinite length")
		case size > 3:
			return nil, fmt.Errorf("length of %d bytes", size)
		case len(b) < 2+size:
			return nil, errors.New("truncated length")
		case b[2] == 0:
			return nil, errors.New("length not minimally encoded")
		}
		n = 0
		for _, c := range b[2 : 2+size] {
			n = n<<8 | int(c)
		}
		if n < 0x80 {
			return nil, errors.New("length not minimally encoded")
		}
		hdr += size
	}
	if n != len(b)-hdr {
		return nil, fmt.Errorf("length %d, but %d bytes follow", n, len(b)-hdr)
	}
	return b[hdr:], nil
}

// KerberosToken returns a wsse:BinarySecurityToken carrying the GSS-API
// token gss (see WrapGSSKerberosAPREQ), with wsu:Id id.
func KerberosToken(id string, gss []byte) *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "BinarySecurityToken")
	el.CreateAttr("xmlns:"+PrefixWSU, NSWSU)
	el.CreateAttr(PrefixWSU+":Id", id)
	el.CreateAttr("ValueType", ValueTypeGSSKerberosAPREQ)
	el.CreateAttr("EncodingType", EncodingBase64Binary)
	el.SetText(base64.StdEncoding.EncodeToString(gss))
	return el
}

// IsKerberosToken reports whether el is a BinarySecurityToken of the GSS
// Kerberos AP-REQ ValueType.
func IsKerberosToken(el *etree.Element) bool {
	vt, _ := xmldoc.Attr(el, attrValueType)
	return xmldoc.Is(el, NameBinarySecurityToken) && vt == ValueTypeGSSKerberosAPREQ
}

// ParseKerberosToken reads a Kerberos BinarySecurityToken and returns the
// DER AP-REQ inside its GSS-API framing. EncodingType may be omitted (base64
// is the default) but no other encoding is accepted.
func ParseKerberosToken(el *etree.Element) ([]byte, error) {
	if !IsKerberosToken(el) {
		vt, _ := xmldoc.Attr(el, attrValueType)
		return nil, fmt.Errorf("wss: %s with ValueType %q is not a GSS Kerberos AP-REQ token", xmldoc.NameOf(el), vt)
	}
	if enc, ok := xmldoc.Attr(el, attrEncodingType); ok && enc != EncodingBase64Binary {
		return nil, fmt.Errorf("wss: binary security token EncodingType %q is not Base64Binary", enc)
	}
	gss, err := DecodeBase64(el.Text())
	if err != nil {
		return nil, fmt.Errorf("wss: binary security token: %w", err)
	}
	return UnwrapGSSKerberosAPREQ(gss)
}
