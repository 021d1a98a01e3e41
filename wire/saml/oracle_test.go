package saml

import (
	"bytes"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	goxmldsig "github.com/russellhaering/goxmldsig"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/c14n"
)

// xmlsecVerifyAssertion asks xmlsec1 to verify the enveloped signature of
// the assertion in doc with the issuer certificate. oracle.XMLSecVerify
// registers Id attributes only; SAML 2.0 names its identifier ID.
func xmlsecVerifyAssertion(t *testing.T, doc, certPEM []byte) (string, bool) {
	t.Helper()
	bin := oracle.Require(t, "xmlsec1")
	dir := t.TempDir()
	msg, cert := filepath.Join(dir, "assertion.xml"), filepath.Join(dir, "issuer.pem")
	for p, b := range map[string][]byte{msg: doc, cert: certPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", cert, "--id-attr:ID", NS+":Assertion", msg).CombinedOutput()
	return string(out), err == nil
}

// xmlsec1 verifies the enveloped signature Build makes, with nothing but
// the issuer certificate, and refuses the assertion once a signed byte
// changes.
func TestXMLSecVerifiesAssertionSignature(t *testing.T) {
	issuer, rp, _, _ := loadParties(t)
	src := build(t, template(rp), issuer)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuer.cert.Raw})
	if out, ok := xmlsecVerifyAssertion(t, src, certPEM); !ok {
		t.Fatalf("xmlsec1 refused the assertion:\n%s\n%s", out, src)
	}
	tampered := bytes.Replace(src, []byte(">alice<"), []byte(">alicf<"), 1)
	if out, ok := xmlsecVerifyAssertion(t, tampered, certPEM); ok {
		t.Fatalf("xmlsec1 accepted a tampered assertion:\n%s", out)
	}
}

// The assertion's canonical form is libxml2's: wire/c14n
// and goxmldsig's own exclusive canonicalizer both agree with xmllint
// --exc-c14n on the assertion Build writes (xsi:type QName content, a
// default-namespace Signature among prefixed elements, redundant nested
// declarations).
func TestAssertionCanonicalFormMatchesXMLLint(t *testing.T) {
	issuer, rp, _, _ := loadParties(t)
	src := build(t, template(rp), issuer)
	want := oracle.ExcC14N(t, src)
	got, err := c14n.Exclusive(parse(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("wire/c14n differs from xmllint:\n%s\n%s", got, want)
	}
	raw, err := goxmldsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(parse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("goxmldsig's canonicalizer differs from xmllint:\n%s\n%s", raw, want)
	}
}
