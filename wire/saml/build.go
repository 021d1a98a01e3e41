package saml

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
)

// prefix is the prefix scproxy writes SAML 2.0 elements with.
const prefix = "saml2"

// Template is the content of a holder-of-key assertion an issuer makes.
type Template struct {
	// ID must be an XML name (SAML 2.0 core §1.3.4): "_" and hex digits
	// will do.
	ID                      string
	Issuer                  string
	Subject                 string
	IssueInstant            time.Time
	NotBefore, NotOnOrAfter time.Time
	// Audience, when set, becomes the one AudienceRestriction.
	Audience string
	// ProofKey is the key the holder proves possession of; it travels
	// encrypted to Recipient, the relying party's certificate.
	ProofKey  []byte
	Recipient *x509.Certificate
}

// IssuerKey signs assertions: an RSA key and the certificate relying
// parties trust it by, which the signature's KeyInfo carries.
type IssuerKey struct {
	Key  crypto.Signer
	Cert *x509.Certificate
}

// Build writes a SAML 2.0 assertion from t, in the order SAML 2.0 core
// §2.3.3 prescribes (Issuer, Signature, Subject, Conditions,
// AuthnStatement), and signs it with an enveloped RSA-SHA256 signature over
// a SHA-256 digest. rand supplies the OAEP seed of the encrypted proof
// key. The element declares every namespace it uses, so it can be placed
// anywhere without changing its canonical form.
func Build(t Template, by IssuerKey, rand io.Reader) (*etree.Element, error) {
	if t.ID == "" || t.Issuer == "" || t.Subject == "" || len(t.ProofKey) == 0 || t.Recipient == nil {
		return nil, errors.New("saml: assertion template incomplete")
	}
	if by.Key == nil || by.Cert == nil {
		return nil, errors.New("saml: no issuer key")
	}
	a := etree.NewElement(prefix + ":Assertion")
	a.CreateAttr("xmlns:"+prefix, NS)
	a.CreateAttr("ID", t.ID)
	a.CreateAttr("IssueInstant", wss.FormatTime(t.IssueInstant))
	a.CreateAttr("Version", "2.0")
	issuer := child(a, "Issuer", t.Issuer)
	if err := addSubject(a, t, rand); err != nil {
		return nil, err
	}
	cond := child(a, "Conditions", "")
	cond.CreateAttr("NotBefore", wss.FormatTime(t.NotBefore))
	cond.CreateAttr("NotOnOrAfter", wss.FormatTime(t.NotOnOrAfter))
	if t.Audience != "" {
		child(child(cond, "AudienceRestriction", ""), "Audience", t.Audience)
	}
	authn := child(a, "AuthnStatement", "")
	authn.CreateAttr("AuthnInstant", wss.FormatTime(t.IssueInstant))
	child(child(authn, "AuthnContext", ""), "AuthnContextClassRef", PasswordProtectedTransport)
	if err := sign(a, issuer, by); err != nil {
		return nil, err
	}
	return a, nil
}

// addSubject writes the Subject: the NameID and the holder-of-key
// confirmation whose KeyInfo holds the encrypted proof key.
func addSubject(a *etree.Element, t Template, rand io.Reader) error {
	ek, err := EncryptKey(t.ProofKey, t.Recipient, rand)
	if err != nil {
		return err
	}
	subj := child(a, "Subject", "")
	child(subj, "NameID", t.Subject)
	sc := child(subj, "SubjectConfirmation", "")
	sc.CreateAttr("Method", HolderOfKey)
	data := child(sc, "SubjectConfirmationData", "")
	data.CreateAttr("xmlns:xsi", NSXSI)
	data.CreateAttr("xsi:type", prefix+":KeyInfoConfirmationDataType")
	ki := data.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", dsig.NS)
	ki.AddChild(ek)
	return nil
}

// sign adds the enveloped signature right after the Issuer, its KeyInfo
// carrying the issuer certificate.
func sign(a, issuer *etree.Element, by IssuerKey) error {
	key, err := dsig.RSASigningKey(dsig.RSASHA256, by.Key)
	if err != nil {
		return fmt.Errorf("saml: %w", err)
	}
	x509Data := etree.NewElement("X509Data")
	x509Data.CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(by.Cert.Raw))
	s := dsig.Signer{Key: key, Digest: dsig.SHA256, KeyInfo: x509Data}
	if _, err := s.SignEnveloped(a, SAML20.IDAttr(), issuer); err != nil {
		return fmt.Errorf("saml: signing the assertion: %w", err)
	}
	return nil
}

// child appends a SAML 2.0 element with optional text.
func child(parent *etree.Element, local, text string) *etree.Element {
	c := parent.CreateElement(prefix + ":" + local)
	if text != "" {
		c.SetText(text)
	}
	return c
}
