package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

func TestVerifyAcceptsWhatBuildSigns(t *testing.T) {
	issuer, rp, _, _ := loadParties(t)
	src := build(t, template(rp), issuer)
	v, err := Verify(parse(t, src), options(issuer, rp))
	if err != nil {
		t.Fatal(err)
	}
	if v.Subject != "alice" || v.Issuer != "https://sts.example/" || v.ID != template(rp).ID || v.Kind != SAML20 {
		t.Errorf("read %+v", v.Assertion)
	}
	if !bytes.Equal(v.ProofKey, proofKey) {
		t.Error("proof key not recovered")
	}
	if !v.IssuerCert.Equal(issuer.cert) {
		t.Error("issuer certificate not reported")
	}
	if !v.NotOnOrAfter.Equal(testStart.Add(time.Hour)) || len(v.Audiences) != 1 || v.Audiences[0][0] != "https://svc.example/Orders.svc" {
		t.Errorf("conditions %v %v", v.NotOnOrAfter, v.Audiences)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, v); strings.Contains(out, string(proofKey)) || strings.Contains(out, base64.StdEncoding.EncodeToString(proofKey)) {
			t.Errorf("%s prints the proof key: %s", f, out)
		}
	}
}

// mutate returns a function that parses src, changes the tree and
// returns the assertion element to verify.
type mutation func(t *testing.T, root *etree.Element) *etree.Element

func find(t *testing.T, root *etree.Element, n xmldoc.Name) *etree.Element {
	t.Helper()
	var out *etree.Element
	xmldoc.Walk(root, func(e *etree.Element) {
		if out == nil && xmldoc.Is(e, n) {
			out = e
		}
	})
	if out == nil {
		t.Fatalf("no %s", n)
	}
	return out
}

var sigName = xmldoc.Name{Space: dsig.NS, Local: "Signature"}

// wrapped is the signature-wrapping attack: a forged assertion with the
// signed one's ID whose Subject names mallory, the genuine assertion
// tucked into its Advice; with withSig, the genuine Signature is also
// copied into the forgery, after its Issuer.
func wrapped(withSig bool) mutation {
	return func(t *testing.T, root *etree.Element) *etree.Element {
		forged := root.Copy()
		for _, c := range forged.ChildElements()[1:] {
			forged.RemoveChild(c)
		}
		if withSig {
			forged.AddChild(find(t, root, sigName).Copy())
		}
		forged.CreateElement("saml2:Advice").AddChild(root)
		forged.CreateElement("saml2:Subject").CreateElement("saml2:NameID").SetText("mallory")
		return forged
	}
}

func TestVerifyRefuses(t *testing.T) {
	issuer, rp, other, expired := loadParties(t)
	good := template(rp)
	cases := []struct {
		name   string
		src    func() []byte
		mutate mutation
		opts   func(*VerifyOptions)
		want   error  // errors.Is target, or nil
		reason string // substring of the error
	}{
		{name: "tampered NameID", src: func() []byte { return bytes.Replace(build(t, good, issuer), []byte(">alice<"), []byte(">mallory<"), 1) }, reason: "digest mismatch"},
		{name: "tampered audience", src: func() []byte {
			return bytes.Replace(build(t, good, issuer), []byte("Orders.svc<"), []byte("Other.svc<"), 1)
		}, opts: func(o *VerifyOptions) { o.Audience = audience("https://svc.example/Other.svc") }, reason: "digest mismatch"},
		{name: "wrapped assertion", mutate: wrapped(false), reason: "not right after its Issuer"},
		{name: "wrapped assertion with copied signature", mutate: wrapped(true), reason: "holds 2 signatures"},
		{name: "moved signature", mutate: func(t *testing.T, root *etree.Element) *etree.Element {
			sig := find(t, root, sigName)
			root.RemoveChild(sig)
			find(t, root, Name("Subject")).AddChild(sig)
			return root
		}, reason: "not right after its Issuer"},
		{name: "unsigned", mutate: func(t *testing.T, root *etree.Element) *etree.Element {
			root.RemoveChild(find(t, root, sigName))
			return root
		}, reason: "not signed"},
		{name: "changed ID", mutate: func(t *testing.T, root *etree.Element) *etree.Element {
			root.SelectAttr("ID").Value = "_other"
			return root
		}, reason: "not its parent"},
		{name: "wrong issuer", src: func() []byte { return build(t, good, other) }, want: ErrUntrustedIssuer},
		{name: "issuer certificate expired", src: func() []byte { return build(t, good, expired) }, opts: func(o *VerifyOptions) { o.Issuers = append(o.Issuers, expired.cert) }, want: ErrUntrustedIssuer, reason: "not valid at"},
		{name: "no trusted issuer", opts: func(o *VerifyOptions) { o.Issuers = nil }, want: ErrUntrustedIssuer},
		{name: "expired", opts: func(o *VerifyOptions) { o.Now = testStart.Add(time.Hour + 6*time.Minute) }, want: ErrExpired},
		{name: "not yet valid", opts: func(o *VerifyOptions) { o.Now = testStart.Add(-6 * time.Minute) }, want: ErrNotYetValid},
		{name: "audience mismatch", opts: func(o *VerifyOptions) { o.Audience = audience("https://evil.example/") }, want: ErrAudience},
		{name: "no audience accepted", opts: func(o *VerifyOptions) { o.Audience = nil }, want: ErrAudience},
		{name: "proof key for another party", src: func() []byte {
			tm := good
			tm.Recipient = other.cert
			return build(t, tm, issuer)
		}, reason: "encrypted to another certificate"},
		{name: "not holder-of-key", src: func() []byte {
			return resign(t, bytes.Replace(build(t, good, issuer), []byte(HolderOfKey), []byte("urn:oasis:names:tc:SAML:2.0:cm:bearer"), 1), issuer)
		}, reason: "0 holder-of-key confirmations"},
		{name: "HMAC keyed with the public certificate", src: func() []byte { return hmacSigned(t, build(t, good, issuer), issuer.cert) }, reason: "signature method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := build(t, good, issuer)
			if tc.src != nil {
				src = tc.src()
			}
			el := parse(t, src)
			if tc.mutate != nil {
				el = tc.mutate(t, el)
			}
			o := options(issuer, rp)
			if tc.opts != nil {
				tc.opts(&o)
			}
			v, err := Verify(el, o)
			if err == nil {
				t.Fatalf("accepted: %v", v)
			}
			t.Log(err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// resign replaces the signature of a changed assertion with a valid one by
// the same issuer, for fixtures whose defect is not the signature.
func resign(t *testing.T, src []byte, by party) []byte {
	t.Helper()
	root := parse(t, src)
	root.RemoveChild(find(t, root, sigName))
	if err := sign(root, root.ChildElements()[0], IssuerKey{Key: by.key, Cert: by.cert}); err != nil {
		t.Fatal(err)
	}
	return xmldoc.Serialize(root)
}

// hmacSigned re-signs an assertion with HMAC-SHA256 keyed with the issuer
// certificate's bytes, the key-confusion forgery a verifier that lets the
// signature choose its algorithm would accept.
func hmacSigned(t *testing.T, src []byte, cert *x509.Certificate) []byte {
	t.Helper()
	root := parse(t, src)
	root.RemoveChild(find(t, root, sigName))
	k, err := dsig.HMACKey(dsig.HMACSHA256, cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	s := dsig.Signer{Key: k, Digest: dsig.SHA256}
	if _, err := s.SignEnveloped(root, SAML20.IDAttr(), root.ChildElements()[0]); err != nil {
		t.Fatal(err)
	}
	return xmldoc.Serialize(root)
}

func TestDecryptKeyRefuses(t *testing.T) {
	_, rp, other, _ := loadParties(t)
	ek, err := EncryptKey(proofKey, rp.cert, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := xmldoc.Serialize(ek)
	if key, err := DecryptKey(parse(t, src), rp.cert, rp.key); err != nil || !bytes.Equal(key, proofKey) {
		t.Fatalf("round trip: %v", err)
	}
	cv := find(t, parse(t, src), xencName("CipherValue")).Text()
	ct, _ := base64.StdEncoding.DecodeString(cv)
	ct[len(ct)/2] ^= 1
	cases := []struct {
		name   string
		edit   func(string) string
		cert   *x509.Certificate
		want   error
		reason string
	}{
		{name: "corrupt ciphertext", edit: func(s string) string { return strings.Replace(s, cv, base64.StdEncoding.EncodeToString(ct), 1) }, want: ErrProofKey},
		{name: "RSA PKCS#1 v1.5", edit: func(s string) string { return strings.Replace(s, RSAOAEPMGF1P, NSXMLEnc+"rsa-1_5", 1) }, reason: "key transport"},
		{name: "SHA-256 OAEP digest", edit: func(s string) string { return strings.Replace(s, dsig.SHA1, dsig.SHA256, 1) }, reason: "EncryptionMethod parameter"},
		{name: "OAEP parameters", edit: func(s string) string {
			return strings.Replace(s, "</xenc:EncryptionMethod>", "<xenc:OAEPparams>AAAA</xenc:OAEPparams></xenc:EncryptionMethod>", 1)
		}, reason: "EncryptionMethod parameter"},
		{name: "other recipient", cert: other.cert, reason: "another certificate"},
		{name: "two cipher values", edit: func(s string) string {
			return strings.Replace(s, "</xenc:CipherData>", "<xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>", 1)
		}, reason: "CipherValue"},
		{name: "no key info", edit: func(s string) string {
			i, j := strings.Index(s, "<ds:KeyInfo"), strings.Index(s, "</ds:KeyInfo>")
			return s[:i] + s[j+len("</ds:KeyInfo>"):]
		}, reason: "KeyInfo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := string(src)
			if tc.edit != nil {
				s = tc.edit(s)
			}
			cert := rp.cert
			if tc.cert != nil {
				cert = tc.cert
			}
			key, err := DecryptKey(parse(t, []byte(s)), cert, rp.key)
			if err == nil {
				t.Fatalf("decrypted %d bytes", len(key))
			}
			t.Log(err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}
