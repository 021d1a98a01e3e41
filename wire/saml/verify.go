package saml

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Errors Verify wraps, so a relying party can tell a token it does not
// trust or no longer accepts from a malformed one.
var (
	ErrUntrustedIssuer = errors.New("the assertion is not signed by a trusted issuer")
	ErrExpired         = errors.New("the assertion has expired")
	ErrNotYetValid     = errors.New("the assertion is not valid yet")
	ErrAudience        = errors.New("the assertion is not for this audience")
)

// Policy is what Verify accepts for an assertion's signature: the RSA
// methods and digests issuers use (ADFS, WSS4J, scproxy's own server).
var Policy = dsig.Policy{
	SignatureMethods: []string{dsig.RSASHA1, dsig.RSASHA256},
	DigestMethods:    []string{dsig.SHA1, dsig.SHA256},
	MaxReferences:    1,
}

// VerifyOptions are a relying party's settings.
type VerifyOptions struct {
	// Issuers are the certificates of the issuers trusted, compared byte
	// for byte with the one the signature carries and valid at Now.
	Issuers []*x509.Certificate
	// Now and Skew bound the Conditions: valid from NotBefore-Skew until
	// NotOnOrAfter+Skew.
	Now  time.Time
	Skew time.Duration
	// Audience reports whether an audience URI designates this relying
	// party; each AudienceRestriction of the assertion must list one it
	// accepts. Nil accepts only assertions without restriction.
	Audience func(uri string) bool
	// Recipient and Key open the proof key: the relying party's
	// certificate and its private key.
	Recipient *x509.Certificate
	Key       crypto.Decrypter
}

// Verified is a checked holder-of-key assertion: what it says, who signed
// it, and the proof key its holder must use.
type Verified struct {
	*Assertion
	// IssuerCert is the trusted certificate whose key signed it.
	IssuerCert *x509.Certificate
	ProofKey   []byte
}

// Verify checks a SAML 2.0 holder-of-key assertion as a relying party must
// before believing anything in it:
//   - exactly one ds:Signature in the whole assertion, placed right after
//     the Issuer (SAML 2.0 core §5.4.1), enveloped, referencing the
//     assertion's own ID, by the key of a trusted issuer certificate;
//   - the Conditions hold at Now and the audience matches;
//   - exactly one holder-of-key SubjectConfirmation whose KeyInfo holds an
//     EncryptedKey that opens with the relying party's key.
//
// Everything is read from el itself, the element the signature covers,
// so a second assertion elsewhere in the message cannot be substituted.
// el must be the one element the caller resolved the token reference to.
func Verify(el *etree.Element, o VerifyOptions) (*Verified, error) {
	if !xmldoc.Is(el, Name("Assertion")) {
		return nil, fmt.Errorf("saml: %s is not a SAML 2.0 assertion", xmldoc.NameOf(el))
	}
	if err := checkSignaturePlace(el); err != nil {
		return nil, err
	}
	var issuer *x509.Certificate
	resolve := func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		c, err := o.issuer(keyInfo)
		if err != nil {
			return nil, err
		}
		issuer = c
		return dsig.RSAVerifyingKey(method, c.PublicKey.(*rsa.PublicKey))
	}
	if _, err := dsig.VerifyEnveloped(el, SAML20.IDAttr(), resolve, Policy); err != nil {
		return nil, fmt.Errorf("saml: the assertion's signature: %w", err)
	}
	a, err := parse20(el)
	if err != nil {
		return nil, err
	}
	if err := a.ValidAt(o.Now, o.Skew); err != nil {
		return nil, err
	}
	if !a.allows(o.Audience) {
		return nil, fmt.Errorf("saml: %w (it is for %q)", ErrAudience, a.Audiences)
	}
	key, err := o.proofKey(el)
	if err != nil {
		return nil, err
	}
	return &Verified{Assertion: a, IssuerCert: issuer, ProofKey: key}, nil
}

// checkSignaturePlace requires the assertion's only XML Signature to be
// its second child, after the Issuer. A signature anywhere else (moved
// into the Subject, wrapped in Advice) is refused before any
// cryptography is done.
func checkSignaturePlace(el *etree.Element) error {
	n := 0
	xmldoc.Walk(el, func(e *etree.Element) {
		if xmldoc.Is(e, xmldoc.Name{Space: dsig.NS, Local: "Signature"}) {
			n++
		}
	})
	kids := el.ChildElements()
	switch {
	case n == 0:
		return errors.New("saml: the assertion is not signed")
	case n > 1:
		return fmt.Errorf("saml: the assertion holds %d signatures, expected 1", n)
	case len(kids) < 2 || !xmldoc.Is(kids[0], Name("Issuer")) || !xmldoc.Is(kids[1], xmldoc.Name{Space: dsig.NS, Local: "Signature"}):
		return errors.New("saml: the assertion's signature is not right after its Issuer")
	}
	return nil
}

// issuer resolves the signature's KeyInfo to a trusted certificate: the
// X509Certificate it carries must be one of Issuers; without a KeyInfo,
// the single trusted issuer is assumed.
func (o VerifyOptions) issuer(keyInfo *etree.Element) (*x509.Certificate, error) {
	var der []byte
	switch {
	case keyInfo != nil:
		x509Data, err := xmldoc.One(keyInfo, xmldoc.Name{Space: dsig.NS, Local: "X509Data"})
		if err != nil {
			return nil, err
		}
		c, err := xmldoc.One(x509Data, xmldoc.Name{Space: dsig.NS, Local: "X509Certificate"})
		if err != nil {
			return nil, err
		}
		if der, err = wss.DecodeBase64(c.Text()); err != nil {
			return nil, fmt.Errorf("X509Certificate: %w", err)
		}
	case len(o.Issuers) == 1:
		der = o.Issuers[0].Raw
	default:
		return nil, fmt.Errorf("%w: the signature names no certificate", ErrUntrustedIssuer)
	}
	for _, c := range o.Issuers {
		if !bytes.Equal(c.Raw, der) {
			continue
		}
		if o.Now.Before(c.NotBefore) || o.Now.After(c.NotAfter) {
			return nil, fmt.Errorf("%w: the certificate of %q is not valid at %s", ErrUntrustedIssuer, c.Subject, wss.FormatTime(o.Now))
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: the certificate of %q has no RSA key", ErrUntrustedIssuer, c.Subject)
		}
		return c, nil
	}
	return nil, ErrUntrustedIssuer
}

// proofKey finds the one holder-of-key confirmation of the assertion and
// opens its EncryptedKey.
func (o VerifyOptions) proofKey(el *etree.Element) ([]byte, error) {
	subj, err := xmldoc.One(el, Name("Subject"))
	if err != nil {
		return nil, wrap(err)
	}
	var hok []*etree.Element
	for _, sc := range xmldoc.Children(subj, Name("SubjectConfirmation")) {
		if m, _ := xmldoc.Attr(sc, xmldoc.Name{Local: "Method"}); m == HolderOfKey {
			hok = append(hok, sc)
		}
	}
	if len(hok) != 1 {
		return nil, fmt.Errorf("saml: the assertion has %d holder-of-key confirmations, expected 1", len(hok))
	}
	data, err := xmldoc.One(hok[0], Name("SubjectConfirmationData"))
	if err != nil {
		return nil, wrap(err)
	}
	ki, err := xmldoc.One(data, xmldoc.Name{Space: dsig.NS, Local: "KeyInfo"})
	if err != nil {
		return nil, wrap(err)
	}
	ek, err := xmldoc.One(ki, xencName("EncryptedKey"))
	if err != nil {
		return nil, wrap(err)
	}
	if o.Recipient == nil || o.Key == nil {
		return nil, errors.New("saml: no relying party key to open the proof key")
	}
	return DecryptKey(ek, o.Recipient, o.Key)
}

// String names the assertion and its subject, never the proof key.
func (v *Verified) String() string {
	return fmt.Sprintf("%s assertion %q for %q from %q", v.Kind, v.ID, v.Subject, v.Issuer)
}

// GoString is String, so that %#v cannot print the proof key either.
func (v *Verified) GoString() string { return v.String() }
