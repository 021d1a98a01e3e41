package msgsec

import (
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The ds:X509Data form of a SecurityTokenReference (X.509 Token Profile
// 1.1 §3.2: the issuer and serial number of a certificate).
var (
	nameX509Data         = xmldoc.Name{Space: dsig.NS, Local: "X509Data"}
	nameX509IssuerSerial = xmldoc.Name{Space: dsig.NS, Local: "X509IssuerSerial"}
	nameX509IssuerName   = xmldoc.Name{Space: dsig.NS, Local: "X509IssuerName"}
	nameX509SerialNumber = xmldoc.Name{Space: dsig.NS, Local: "X509SerialNumber"}
)

// errOtherCert is the answer to a reference that does not name the
// certificate it was compared with.
var errOtherCert = errors.New("the reference names another certificate")

// refersToCert checks that a SecurityTokenReference naming an X.509 token
// not in the message (X.509 Token Profile 1.1 §3.2) names cert exactly:
// by its SHA-1 thumbprint, its subject key identifier, or its issuer and
// serial number. Any other form, or a value that differs, is refused.
func refersToCert(strEl *etree.Element, cert *x509.Certificate) error {
	if strEl == nil || !xmldoc.Is(strEl, wss.NameSecurityTokenReference) {
		return errors.New("no security token reference")
	}
	kids := strEl.ChildElements()
	if len(kids) != 1 {
		return fmt.Errorf("a security token reference has %d child elements, expected 1", len(kids))
	}
	if xmldoc.Is(kids[0], nameX509Data) {
		return issuerSerialNames(kids[0], cert)
	}
	s, err := wss.ParseSTR(strEl)
	if err != nil {
		return err
	}
	k := s.KeyIdentifier
	if k == nil {
		return errors.New("the reference names no certificate by key identifier or issuer and serial number")
	}
	var want []byte
	switch k.ValueType {
	case wss.ValueTypeThumbprintSHA1:
		sum := sha1.Sum(cert.Raw)
		want = sum[:]
	case wss.ValueTypeX509SKI:
		if want, err = subjectKeyID(cert); err != nil {
			return err
		}
	default:
		return fmt.Errorf("key identifier type %q does not name a certificate", k.ValueType)
	}
	if subtle.ConstantTimeCompare(k.Value, want) != 1 {
		return errOtherCert
	}
	return nil
}

// subjectKeyID is cert's subject key identifier: its extension's value,
// or, for a certificate without one, the SHA-1 of its public key bits
// (RFC 5280 §4.2.1.2 method 1), the value WS-Security senders compute.
func subjectKeyID(cert *x509.Certificate) ([]byte, error) {
	if len(cert.SubjectKeyId) > 0 {
		return cert.SubjectKeyId, nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil || len(rest) > 0 {
		return nil, errors.New("the certificate's public key cannot be read")
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// issuerSerialNames checks a ds:X509Data holding exactly one
// X509IssuerSerial: the serial number equal to cert's, and the issuer
// name, read as an RFC 4514 string, equal attribute by attribute to
// cert's issuer.
func issuerSerialNames(data *etree.Element, cert *x509.Certificate) error {
	if len(data.ChildElements()) != 1 {
		return errors.New("an X509Data reference holds more than an X509IssuerSerial")
	}
	is, err := xmldoc.One(data, nameX509IssuerSerial)
	if err != nil {
		return err
	}
	nameEl, err := xmldoc.One(is, nameX509IssuerName)
	if err != nil {
		return err
	}
	serialEl, err := xmldoc.One(is, nameX509SerialNumber)
	if err != nil {
		return err
	}
	serial, ok := new(big.Int).SetString(xmldoc.Text(serialEl), 10)
	if !ok {
		return errors.New("the X509SerialNumber is not a decimal integer")
	}
	issuer, err := parseDN(xmldoc.Text(nameEl))
	if err != nil {
		return fmt.Errorf("the X509IssuerName: %w", err)
	}
	var certIssuer pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawIssuer, &certIssuer); err != nil || len(rest) > 0 {
		return errors.New("the certificate's issuer cannot be read")
	}
	if serial.Cmp(cert.SerialNumber) != 0 || !sameDN(issuer, certIssuer) {
		return errOtherCert
	}
	return nil
}

// dnTypes are the attribute type names of RFC 4514 §3 and those
// WS-Security senders write (E, emailAddress, SERIALNUMBER).
var dnTypes = map[string]asn1.ObjectIdentifier{
	"CN": {2, 5, 4, 3}, "SERIALNUMBER": {2, 5, 4, 5}, "C": {2, 5, 4, 6}, "L": {2, 5, 4, 7},
	"ST": {2, 5, 4, 8}, "STREET": {2, 5, 4, 9}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11},
	"DC": {0, 9, 2342, 19200300, 100, 1, 25}, "UID": {0, 9, 2342, 19200300, 100, 1, 1},
	"E": {1, 2, 840, 113549, 1, 9, 1}, "EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
}

// dnAttr is one attribute of a distinguished name.
type dnAttr struct {
	typ   asn1.ObjectIdentifier
	value string
}

// parseDN reads an RFC 4514 distinguished name into its RDNs in ASN.1
// order (the string lists them last first). Values in the "#" hex form and
// unknown attribute type names are refused.
func parseDN(s string) ([][]dnAttr, error) {
	var (
		rdns [][]dnAttr
		rdn  []dnAttr
		cur  strings.Builder
		typ  asn1.ObjectIdentifier
	)
	end := func() error {
		if typ == nil {
			return errors.New("an attribute without a type")
		}
		rdn = append(rdn, dnAttr{typ: typ, value: strings.TrimSpace(cur.String())})
		cur.Reset()
		typ = nil
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=' && typ == nil:
			t := strings.ToUpper(strings.TrimSpace(cur.String()))
			if typ = dnTypes[t]; typ == nil {
				return nil, fmt.Errorf("unknown attribute type %q", t)
			}
			cur.Reset()
			if v := strings.TrimLeft(s[i+1:], " "); strings.HasPrefix(v, "#") {
				return nil, errors.New("a value in hexadecimal form")
			}
		case c == '\\' && i+1 < len(s):
			if b, ok := hexPair(s[i+1:]); ok {
				cur.WriteByte(b)
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
		case c == '+' || c == ',' || c == ';':
			if err := end(); err != nil {
				return nil, err
			}
			if c != '+' {
				rdns, rdn = append(rdns, rdn), nil
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := end(); err != nil {
		return nil, err
	}
	rdns = append(rdns, rdn)
	for i, j := 0, len(rdns)-1; i < j; i, j = i+1, j-1 {
		rdns[i], rdns[j] = rdns[j], rdns[i]
	}
	return rdns, nil
}

// hexPair decodes the two hex digits s starts with.
func hexPair(s string) (byte, bool) {
	if len(s) < 2 {
		return 0, false
	}
	var b byte
	for _, c := range []byte(s[:2]) {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			b = b<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}

// sameDN compares a parsed name with a certificate's, RDN by RDN and
// attribute by attribute in order, values as strings.
func sameDN(a [][]dnAttr, b pkix.RDNSequence) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j, at := range a[i] {
			v, ok := b[i][j].Value.(string)
			if !ok || !at.typ.Equal(b[i][j].Type) || at.value != v {
				return false
			}
		}
	}
	return true
}
