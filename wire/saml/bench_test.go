package saml

import (
	"crypto/rand"
	"testing"
)

// BenchmarkBuild is the token service's cost per token: OAEP encryption
// of the proof key, canonicalization and an RSA-SHA256 signature.
func BenchmarkBuild(b *testing.B) {
	issuer, rp, _, _ := loadParties(b)
	tmpl := template(rp)
	for b.Loop() {
		if _, err := Build(tmpl, IssuerKey{Key: issuer.key, Cert: issuer.cert}, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the relying party's cost per bootstrap: parsing, the
// enveloped signature check and the proof key's decryption.
func BenchmarkVerify(b *testing.B) {
	issuer, rp, _, _ := loadParties(b)
	src := build(b, template(rp), issuer)
	o := options(issuer, rp)
	for b.Loop() {
		if _, err := Verify(parse(b, src), o); err != nil {
			b.Fatal(err)
		}
	}
}
