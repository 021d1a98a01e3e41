package c14n_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	nsWSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsExc = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha1b64(b []byte) string {
	s := sha1.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// TestVectorTimestampDigests reproduces the Timestamp digests a real WCF
// client computed (testdata/vectors/README.md): SHA-1 over Exclusive(u:Timestamp).
func TestVectorTimestampDigests(t *testing.T) {
	cases := []struct{ file, want string }{
		{"corewcf/app-request.xml", "Ez9dbXPzjM7hrzmienuYWiT3QDE="},
		{"corewcf/cancel-request.xml", "3Mt6VCsGhHlkMnsrDBTWGQSUX/o="},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d := parse(t, readFile(t, filepath.Join(vectorsDir, tc.file)))
			ts := xmldoc.WithAttr(d.Root(), xmldoc.Name{Space: nsWSU, Local: "Id"}, "_0")
			if len(ts) != 1 || ts[0].Tag != "Timestamp" {
				t.Fatalf("want one Timestamp with u:Id=_0, found %d elements", len(ts))
			}
			got, err := c14n.Exclusive(ts[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := sha1b64(got); d != tc.want {
				t.Errorf("digest %s, want %s\ncanonical form: %s", d, tc.want, got)
			}
		})
	}
}

// TestVectorSignatures recomputes every reference digest and the HMAC-SHA1
// signature value of the signed vectors, each with the PrefixList the
// signer declared: WCF's (none) and WSS4J's ("s" on SignedInfo, "" on the
// Body, "wsse s" on the Timestamp), all in document context.
func TestVectorSignatures(t *testing.T) {
	sctKey := "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8="
	wss4jSecret := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	cases := []struct {
		file    string
		key     func(t *testing.T, sig *etree.Element) []byte
		sigWant string
	}{
		{"corewcf/app-request.xml", fixedKey(sctKey), "u1Ea4tTYJ6xCsT00WjiqxF5fNow="},
		{"corewcf/cancel-request.xml", fixedKey(sctKey), "En1kfMeqpMJdjhS1F+O02mKOK14="},
		{"wss4j/wss4j-sct-dksign-sc200502.xml", derivedKey(wss4jSecret), ""},
		{"wss4j/wss4j-sct-dksign-sc200512.xml", derivedKey(wss4jSecret), ""},
		{"wss4j/wss4j-dktest-sc200502-identifier-ref.xml", derivedKey(wss4jSecret), ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d := parse(t, readFile(t, filepath.Join(vectorsDir, tc.file)))
			sig := one(t, d.Root(), "Signature")
			si := one(t, sig, "SignedInfo")
			refs := si.SelectElements("Reference")
			if len(refs) == 0 {
				t.Fatal("no references")
			}
			for _, ref := range refs {
				checkReference(t, d, ref)
			}
			signed, err := c14n.Exclusive(si, prefixList(one(t, si, "CanonicalizationMethod")))
			if err != nil {
				t.Fatal(err)
			}
			mac := hmac.New(sha1.New, tc.key(t, sig))
			mac.Write(signed)
			got := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			want := strings.TrimSpace(one(t, sig, "SignatureValue").Text())
			if tc.sigWant != "" && want != tc.sigWant {
				t.Fatalf("vector SignatureValue %s, the vectors README says %s", want, tc.sigWant)
			}
			if got != want {
				t.Errorf("SignatureValue %s, want %s\ncanonical SignedInfo: %s", got, want, signed)
			}
		})
	}
}

func checkReference(t *testing.T, d *xmldoc.Doc, ref *etree.Element) {
	t.Helper()
	uri := ref.SelectAttrValue("URI", "")
	id, ok := strings.CutPrefix(uri, "#")
	if !ok {
		t.Fatalf("reference %q is not same-document", uri)
	}
	targets := xmldoc.WithAttr(d.Root(), xmldoc.Name{Space: nsWSU, Local: "Id"}, id)
	if len(targets) != 1 {
		t.Fatalf("reference %s: %d targets", uri, len(targets))
	}
	var list []string
	for _, tr := range one(t, ref, "Transforms").SelectElements("Transform") {
		list = prefixList(tr)
	}
	got, err := c14n.Exclusive(targets[0], list)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(one(t, ref, "DigestValue").Text())
	if sum := sha1b64(got); sum != want {
		t.Errorf("reference %s (PrefixList %q): digest %s, want %s\ncanonical form: %s", uri, list, sum, want, got)
	}
}

// prefixList reads the InclusiveNamespaces PrefixList under a
// CanonicalizationMethod or Transform.
func prefixList(el *etree.Element) []string {
	inc, err := xmldoc.Optional(el, xmldoc.Name{Space: nsExc, Local: "InclusiveNamespaces"})
	if err != nil || inc == nil {
		return nil
	}
	return strings.Fields(inc.SelectAttrValue("PrefixList", ""))
}

func one(t *testing.T, el *etree.Element, local string) *etree.Element {
	t.Helper()
	found := el.FindElements(".//" + local)
	if len(found) != 1 {
		t.Fatalf("want one %s under %s, found %d", local, el.Tag, len(found))
	}
	return found[0]
}

func fixedKey(k string) func(*testing.T, *etree.Element) []byte {
	return func(t *testing.T, _ *etree.Element) []byte { return b64(t, k) }
}

// derivedKey derives the DerivedKeyToken key the signature's KeyInfo names,
// from the SCT secret: P_SHA1(secret, label + nonce), as WS-SC §7 defines.
func derivedKey(secret string) func(*testing.T, *etree.Element) []byte {
	return func(t *testing.T, sig *etree.Element) []byte {
		uri := one(t, one(t, sig, "KeyInfo"), "Reference").SelectAttrValue("URI", "")
		dkts := xmldoc.WithAttr(sig.Parent(), xmldoc.Name{Space: nsWSU, Local: "Id"}, strings.TrimPrefix(uri, "#"))
		if len(dkts) != 1 || dkts[0].Tag != "DerivedKeyToken" {
			t.Fatalf("KeyInfo %s does not name one DerivedKeyToken", uri)
		}
		length, err := strconv.Atoi(one(t, dkts[0], "Length").Text())
		if err != nil {
			t.Fatal(err)
		}
		seed := append([]byte("WS-SecureConversationWS-SecureConversation"), b64(t, one(t, dkts[0], "Nonce").Text())...)
		return pSHA1(b64(t, secret), seed, length)
	}
}

// pSHA1 is the TLS 1.0 P_SHA1 expansion (RFC 2246 §5).
func pSHA1(secret, seed []byte, n int) []byte {
	var out []byte
	a := seed
	for len(out) < n {
		m := hmac.New(sha1.New, secret)
		m.Write(a)
		a = m.Sum(nil)
		m = hmac.New(sha1.New, secret)
		m.Write(a)
		m.Write(seed)
		out = m.Sum(out)
	}
	return out[:n]
}
