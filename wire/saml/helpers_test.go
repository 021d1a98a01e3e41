package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// testStart is the clock of every test.
var testStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// party is a key pair with a self-signed certificate.
type party struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	partiesOnce sync.Once
	parties     struct{ issuer, rp, other, expired party }
	partiesErr  error
)

// loadParties makes, once per test binary, an issuer, a relying party, an
// unrelated issuer and an issuer whose certificate expired before
// testStart, with the test kit's keys: self-signed certificates valid
// around testStart.
func loadParties(t testing.TB) (issuer, rp, other, expired party) {
	t.Helper()
	partiesOnce.Do(func() {
		valid := [2]time.Time{testStart.Add(-24 * time.Hour), testStart.Add(365 * 24 * time.Hour)}
		old := [2]time.Time{testStart.Add(-48 * time.Hour), testStart.Add(-24 * time.Hour)}
		for _, p := range []struct {
			dst  *party
			cn   string
			key  *rsa.PrivateKey
			span [2]time.Time
		}{
			{&parties.issuer, "test issuer", testkit.Server().RSAKey(), valid},
			{&parties.rp, "relying party", testkit.Client().RSAKey(), valid},
			{&parties.other, "other issuer", testkit.OtherClient().RSAKey(), valid},
		} {
			if *p.dst, partiesErr = newParty(p.cn, p.key, p.span); partiesErr != nil {
				return
			}
		}
		parties.expired, partiesErr = newParty("expired issuer", parties.issuer.key, old)
	})
	if partiesErr != nil {
		t.Fatal(partiesErr)
	}
	return parties.issuer, parties.rp, parties.other, parties.expired
}

func newParty(cn string, key *rsa.PrivateKey, span [2]time.Time) (party, error) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(span[0].Unix()), Subject: pkix.Name{CommonName: cn}, NotBefore: span[0], NotAfter: span[1], KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return party{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return party{key: key, cert: cert}, err
}

// proofKey is the proof key of the test assertions.
var proofKey = []byte("0123456789abcdef0123456789abcdef")

// template is a valid holder-of-key assertion for alice at the relying
// party.
func template(rp party) Template {
	return Template{
		ID: "_a75adf55-01d7-40cc-929f-dbd8372ebdfc", Issuer: "https://sts.example/", Subject: "alice",
		IssueInstant: testStart, NotBefore: testStart, NotOnOrAfter: testStart.Add(time.Hour),
		Audience: "https://svc.example/Orders.svc", ProofKey: proofKey, Recipient: rp.cert,
	}
}

// build makes a signed assertion and returns its serialized bytes.
func build(t testing.TB, tmpl Template, by party) []byte {
	t.Helper()
	el, err := Build(tmpl, IssuerKey{Key: by.key, Cert: by.cert}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return xmldoc.Serialize(el)
}

// parse parses src as a received document and returns its root.
func parse(t testing.TB, src []byte) *etree.Element {
	t.Helper()
	d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return d.Root()
}

// options are the relying party's settings for the test assertions.
func options(issuer, rp party) VerifyOptions {
	return VerifyOptions{
		Issuers: []*x509.Certificate{issuer.cert}, Now: testStart.Add(time.Minute), Skew: 5 * time.Minute,
		Audience: audience("https://svc.example/Orders.svc"), Recipient: rp.cert, Key: rp.key,
	}
}

// audience accepts exactly uri.
func audience(uri string) func(string) bool { return func(s string) bool { return s == uri } }
