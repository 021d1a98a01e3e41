package saml

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// XML Encryption URIs (XML Encryption 1.0 §3, §5.4.2).
const (
	// NSXMLEnc is the XML Encryption namespace.
	NSXMLEnc = xenc.NS
	// RSAOAEPMGF1P is RSA-OAEP with MGF1 and SHA-1, the key transport of
	// WCF's and WSS4J's algorithm suites.
	RSAOAEPMGF1P = xenc.RSAOAEPMGF1P
)

// ErrProofKey is wrapped by DecryptKey when the EncryptedKey cannot be
// opened with the relying party's key. It never says more than that: an
// RSA padding oracle is the classic way such a detail is abused.
var ErrProofKey = errors.New("saml: the proof key does not decrypt with the relying party's key")

func xencName(local string) xmldoc.Name { return xmldoc.Name{Space: NSXMLEnc, Local: local} }

// EncryptKey returns an xenc:EncryptedKey holding key encrypted to the
// RSA public key of to with RSAOAEPMGF1P. Its KeyInfo names the
// certificate by SHA-1 thumbprint, as WCF writes it. rand supplies the
// OAEP seed.
func EncryptKey(key []byte, to *x509.Certificate, rand io.Reader) (*etree.Element, error) {
	pub, ok := to.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("saml: the relying party's key is a %T, not RSA", to.PublicKey)
	}
	ct, err := xenc.WrapKey(RSAOAEPMGF1P, key, pub, rand)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypting the proof key: %w", err)
	}
	ek := etree.NewElement("xenc:EncryptedKey")
	ek.CreateAttr("xmlns:xenc", NSXMLEnc)
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", RSAOAEPMGF1P)
	dm := em.CreateElement("ds:DigestMethod")
	dm.CreateAttr("xmlns:ds", dsig.NS)
	dm.CreateAttr("Algorithm", dsig.SHA1)
	ki := ek.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", dsig.NS)
	ki.AddChild(thumbprintSTR(to))
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
	return ek, nil
}

// thumbprintSTR references cert by the SHA-1 of its DER encoding.
func thumbprintSTR(cert *x509.Certificate) *etree.Element {
	sum := sha1.Sum(cert.Raw)
	str := etree.NewElement(wss.PrefixWSSE + ":SecurityTokenReference")
	str.CreateAttr("xmlns:"+wss.PrefixWSSE, wss.NSWSSE)
	ki := str.CreateElement(wss.PrefixWSSE + ":KeyIdentifier")
	ki.CreateAttr("ValueType", wss.ValueTypeThumbprintSHA1)
	ki.CreateAttr("EncodingType", wss.EncodingBase64Binary)
	ki.SetText(base64.StdEncoding.EncodeToString(sum[:]))
	return str
}

// DecryptKey opens an EncryptedKey addressed to cert with its private key
// dec: RSAOAEPMGF1P with SHA-1 only (no OAEPparams), a KeyInfo naming cert
// by thumbprint, one CipherValue, and a key of a size wire/keys accepts.
func DecryptKey(ek *etree.Element, cert *x509.Certificate, dec crypto.Decrypter) ([]byte, error) {
	if !xmldoc.Is(ek, xencName("EncryptedKey")) {
		return nil, fmt.Errorf("saml: %s is not an EncryptedKey", xmldoc.NameOf(ek))
	}
	if err := checkEncryptionMethod(ek); err != nil {
		return nil, err
	}
	if err := checkRecipient(ek, cert); err != nil {
		return nil, err
	}
	cd, err := xmldoc.One(ek, xencName("CipherData"))
	if err != nil {
		return nil, wrap(err)
	}
	cv, err := xmldoc.One(cd, xencName("CipherValue"))
	if err != nil {
		return nil, wrap(err)
	}
	ct, err := wss.DecodeBase64(cv.Text())
	if err != nil {
		return nil, fmt.Errorf("saml: CipherValue: %w", err)
	}
	key, err := xenc.UnwrapKey(RSAOAEPMGF1P, ct, dec, 0, rand.Reader)
	if err != nil {
		return nil, ErrProofKey
	}
	if err := keys.CheckKeyBits(len(key) * 8); err != nil {
		return nil, fmt.Errorf("saml: proof key: %w", err)
	}
	return key, nil
}

// checkEncryptionMethod allows RSA-OAEP with the default (SHA-1) digest
// and no parameters, which is all WCF and WSS4J send.
func checkEncryptionMethod(ek *etree.Element) error {
	em, err := xmldoc.One(ek, xencName("EncryptionMethod"))
	if err != nil {
		return wrap(err)
	}
	if alg, _ := xmldoc.Attr(em, xmldoc.Name{Local: "Algorithm"}); alg != RSAOAEPMGF1P {
		return fmt.Errorf("saml: key transport %q is not allowed, only %s", alg, RSAOAEPMGF1P)
	}
	for _, c := range em.ChildElements() {
		alg, _ := xmldoc.Attr(c, xmldoc.Name{Local: "Algorithm"})
		if !xmldoc.Is(c, xmldoc.Name{Space: dsig.NS, Local: "DigestMethod"}) || alg != dsig.SHA1 {
			return fmt.Errorf("saml: EncryptionMethod parameter %s %q is not allowed", xmldoc.NameOf(c), alg)
		}
	}
	return nil
}

// checkRecipient requires the EncryptedKey's KeyInfo to name cert, so that
// a key encrypted to another party is refused by name rather than by a
// decryption failure.
func checkRecipient(ek *etree.Element, cert *x509.Certificate) error {
	ki, err := xmldoc.One(ek, xmldoc.Name{Space: dsig.NS, Local: "KeyInfo"})
	if err != nil {
		return wrap(err)
	}
	strEl, err := xmldoc.One(ki, wss.NameSecurityTokenReference)
	if err != nil {
		return wrap(err)
	}
	str, err := wss.ParseSTR(strEl)
	if err != nil {
		return wrap(err)
	}
	sum := sha1.Sum(cert.Raw)
	k := str.KeyIdentifier
	if k == nil || k.ValueType != wss.ValueTypeThumbprintSHA1 {
		return errors.New("saml: the EncryptedKey does not name its recipient by certificate thumbprint")
	}
	if string(k.Value) != string(sum[:]) {
		return errors.New("saml: the proof key is encrypted to another certificate")
	}
	return nil
}
