package dsig

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	// sctKey is the CoreWCF vector's SCT key (testdata/vectors/README.md).
	sctKey = "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8="
)

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t testing.TB, path string) *xmldoc.Doc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := xmldoc.Parse(b, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parseString(t testing.TB, s string) *xmldoc.Doc {
	t.Helper()
	d, err := xmldoc.Parse([]byte(s), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// security returns the wsse:Security header of a SOAP 1.2 envelope.
func security(t testing.TB, root *etree.Element) *etree.Element {
	t.Helper()
	h, err := xmldoc.One(root, xmldoc.Name{Space: nsSOAP12, Local: "Header"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := xmldoc.One(h, xmldoc.Name{Space: nsWSSE, Local: "Security"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signatureOf(t testing.TB, root *etree.Element) *etree.Element {
	t.Helper()
	s, err := xmldoc.One(security(t, root), dsName("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hmacResolver(t testing.TB, key []byte) KeyResolver {
	return func(_ *etree.Element, method string) (VerifyingKey, error) {
		return HMACKey(method, key)
	}
}

var coreWCF = []struct {
	file, digest, signature string
}{
	{"../../testdata/vectors/corewcf/app-request.xml", "Ez9dbXPzjM7hrzmienuYWiT3QDE=", "u1Ea4tTYJ6xCsT00WjiqxF5fNow="},
	{"../../testdata/vectors/corewcf/cancel-request.xml", "3Mt6VCsGhHlkMnsrDBTWGQSUX/o=", "En1kfMeqpMJdjhS1F+O02mKOK14="},
}

// TestCoreWCFVerify verifies WCF's signatures as sent, with the SCT key and
// with no other.
func TestCoreWCFVerify(t *testing.T) {
	for _, v := range coreWCF {
		t.Run(v.file[strings.LastIndex(v.file, "/")+1:], func(t *testing.T) {
			d := load(t, v.file)
			root := d.Root()
			got, err := Verify(root, signatureOf(t, root), hmacResolver(t, mustB64(t, sctKey)), DefaultPolicy)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			ts, _ := xmldoc.One(security(t, root), xmldoc.Name{Space: nsWSU, Local: "Timestamp"})
			if len(got.References) != 1 || !got.Covers(ts) || got.References[0].ID != "_0" {
				t.Fatalf("verified references = %+v, want the Timestamp _0", got.References)
			}
			wrong := mustB64(t, sctKey)
			wrong[0] ^= 1
			if _, err := Verify(root, signatureOf(t, root), hmacResolver(t, wrong), DefaultPolicy); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify with another key: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestCoreWCFReproduce re-signs WCF's Timestamp with the SCT key and must
// produce exactly WCF's DigestValue and SignatureValue.
func TestCoreWCFReproduce(t *testing.T) {
	for _, v := range coreWCF {
		t.Run(v.file[strings.LastIndex(v.file, "/")+1:], func(t *testing.T) {
			d := load(t, v.file)
			sec := security(t, d.Root())
			old := signatureOf(t, d.Root())
			str := old.FindElement("./KeyInfo/*").Copy()
			sec.RemoveChild(old)
			ts, _ := xmldoc.One(sec, xmldoc.Name{Space: nsWSU, Local: "Timestamp"})
			key, _ := HMACKey(HMACSHA1, mustB64(t, sctKey))
			s := Signer{Key: key, KeyInfo: str}
			sig, err := s.Sign(sec, Reference{Element: ts})
			if err != nil {
				t.Fatal(err)
			}
			if got := sig.FindElement("./SignedInfo/Reference/DigestValue").Text(); got != v.digest {
				t.Errorf("DigestValue = %s, want %s", got, v.digest)
			}
			if got := sig.FindElement("./SignatureValue").Text(); got != v.signature {
				t.Errorf("SignatureValue = %s, want %s", got, v.signature)
			}
			// The Signature element serialises to the bytes WCF sent.
			sent, _ := os.ReadFile(v.file)
			if got := xmldoc.Serialize(sig); !strings.Contains(string(sent), string(got)) {
				t.Errorf("re-signed Signature is not WCF's:\n got %s\nsent %s", got, sent)
			}
		})
	}
}

const bodySigned = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:u="` + nsWSU + `"><s:Header><o:Security xmlns:o="` + nsWSSE + `"><u:Timestamp u:Id="ts"><u:Created>2026-11-21T00:00:00.000Z</u:Created></u:Timestamp></o:Security></s:Header><s:Body u:Id="body"><Order xmlns="urn:shop"><Item>1</Item></Order></s:Body></s:Envelope>`

// signBody signs the Timestamp and Body of bodySigned with HMAC-SHA1.
func signBody(t testing.TB, key []byte) *xmldoc.Doc {
	t.Helper()
	d := parseString(t, bodySigned)
	sec := security(t, d.Root())
	k, _ := HMACKey(HMACSHA1, key)
	s := Signer{Key: k}
	body, _ := xmldoc.One(d.Root(), xmldoc.Name{Space: nsSOAP12, Local: "Body"})
	ts := sec.ChildElements()[0]
	if _, err := s.Sign(sec, Reference{Element: ts}, Reference{Element: body}); err != nil {
		t.Fatal(err)
	}
	// Round trip through bytes, as a peer would receive it.
	return parseString(t, string(xmldoc.Serialize(d.Root())))
}

func TestSignVerifyBody(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	d := signBody(t, key)
	root := d.Root()
	v, err := Verify(root, signatureOf(t, root), hmacResolver(t, key), DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := xmldoc.One(root, xmldoc.Name{Space: nsSOAP12, Local: "Body"})
	if err := v.Require(map[string]*etree.Element{"Body": body}); err != nil {
		t.Fatal(err)
	}
}

// TestNegative checks that each kind of tampering fails with its own error.
func TestNegative(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	body := func(root *etree.Element) *etree.Element {
		b, _ := xmldoc.One(root, xmldoc.Name{Space: nsSOAP12, Local: "Body"})
		return b
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, root *etree.Element)
		check  func(t *testing.T, root *etree.Element, v *Verified, err error)
	}{
		{
			name: "body moved into a header, forged body in its place (wrapping)",
			tamper: func(t *testing.T, root *etree.Element) {
				orig := body(root)
				root.RemoveChild(orig)
				wrapper := root.FindElement("./s:Header").CreateElement("Wrapper")
				wrapper.AddChild(orig)
				forged := root.CreateElement("s:Body")
				forged.CreateElement("Order").CreateAttr("xmlns", "urn:shop")
			},
			check: func(t *testing.T, root *etree.Element, v *Verified, err error) {
				if err != nil {
					t.Fatalf("the moved body still verifies by itself, got %v", err)
				}
				var ns *NotSignedError
				if err := v.Require(map[string]*etree.Element{"Body": body(root)}); !errors.As(err, &ns) || ns.Part != "Body" {
					t.Fatalf("Require(Body) = %v, want NotSignedError for Body", err)
				}
			},
		},
		{
			name: "signed body duplicated (two elements with Id body)",
			tamper: func(t *testing.T, root *etree.Element) {
				root.FindElement("./s:Header").AddChild(body(root).Copy())
			},
			check: wantReferenceError("#body", 2),
		},
		{
			name: "duplicate Id on an unreferenced element",
			tamper: func(t *testing.T, root *etree.Element) {
				e := root.FindElement("./s:Header").CreateElement("X")
				e.CreateAttr("Id", "other")
				e2 := root.FindElement("./s:Header").CreateElement("Y")
				e2.CreateAttr("Id", "other")
			},
			check: wantReferenceError("#other", 2),
		},
		{
			name: "reference to nothing",
			tamper: func(t *testing.T, root *etree.Element) {
				body(root).RemoveAttr("u:Id")
			},
			check: wantReferenceError("#body", 0),
		},
		{
			name: "wrong digest (body changed)",
			tamper: func(t *testing.T, root *etree.Element) {
				body(root).FindElement("./Order/Item").SetText("2")
			},
			check: func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
				var de *DigestError
				if !errors.As(err, &de) || de.URI != "#body" {
					t.Fatalf("err = %v, want DigestError for #body", err)
				}
			},
		},
		{
			name: "truncated HMAC",
			tamper: func(t *testing.T, root *etree.Element) {
				sv := signatureOf(t, root).FindElement("./SignatureValue")
				b := mustB64(t, sv.Text())
				sv.SetText(base64.StdEncoding.EncodeToString(b[:10]))
			},
			check: wantIs(ErrTruncatedHMAC),
		},
		{
			name: "HMACOutputLength",
			tamper: func(t *testing.T, root *etree.Element) {
				signatureOf(t, root).FindElement("./SignedInfo/SignatureMethod").CreateElement("HMACOutputLength").SetText("80")
			},
			check: wantErrContains("HMACOutputLength"),
		},
		{
			name: "disallowed signature method",
			tamper: func(t *testing.T, root *etree.Element) {
				signatureOf(t, root).FindElement("./SignedInfo/SignatureMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-md5")
			},
			check: wantAlgorithmError("signature method"),
		},
		{
			name: "disallowed digest",
			tamper: func(t *testing.T, root *etree.Element) {
				signatureOf(t, root).FindElement("./SignedInfo/Reference/DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#md5")
			},
			check: wantAlgorithmError("digest method"),
		},
		{
			name: "inclusive canonicalization",
			tamper: func(t *testing.T, root *etree.Element) {
				signatureOf(t, root).FindElement("./SignedInfo/CanonicalizationMethod").CreateAttr("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
			},
			check: wantAlgorithmError("canonicalization"),
		},
		{
			name: "enveloped-signature transform",
			tamper: func(t *testing.T, root *etree.Element) {
				tr := signatureOf(t, root).FindElement("./SignedInfo/Reference/Transforms")
				tr.CreateElement("Transform").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#enveloped-signature")
			},
			check: wantErrContains("exactly one exclusive c14n transform"),
		},
		{
			name: "external reference",
			tamper: func(t *testing.T, root *etree.Element) {
				signatureOf(t, root).FindElement("./SignedInfo/Reference").CreateAttr("URI", "http://evil.example/x")
			},
			check: wantErrContains("not a same-document Id reference"),
		},
		{
			name: "SignedInfo in the wrong namespace",
			tamper: func(t *testing.T, root *etree.Element) {
				si := signatureOf(t, root).FindElement("./SignedInfo")
				si.CreateAttr("xmlns", "urn:not-dsig")
			},
			check: func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
				var nf *xmldoc.NotFoundError
				if !errors.As(err, &nf) || nf.WrongSpace != "urn:not-dsig" {
					t.Fatalf("err = %v, want NotFoundError naming urn:not-dsig", err)
				}
			},
		},
		{
			name: "two SignedInfo",
			tamper: func(t *testing.T, root *etree.Element) {
				sig := signatureOf(t, root)
				sig.InsertChildAt(0, sig.FindElement("./SignedInfo").Copy())
			},
			check: func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
				var de *xmldoc.DuplicateError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v, want DuplicateError", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := signBody(t, key)
			root := d.Root()
			tc.tamper(t, root)
			// Round trip so the tampered message is what a peer would parse.
			root = parseString(t, string(xmldoc.Serialize(root))).Root()
			v, err := Verify(root, signatureOf(t, root), hmacResolver(t, key), DefaultPolicy)
			tc.check(t, root, v, err)
		})
	}
}

func wantReferenceError(uri string, count int) func(*testing.T, *etree.Element, *Verified, error) {
	return func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
		var re *ReferenceError
		if !errors.As(err, &re) || re.URI != uri || re.Count != count {
			t.Fatalf("err = %v, want ReferenceError{%s, %d}", err, uri, count)
		}
	}
}

func wantIs(target error) func(*testing.T, *etree.Element, *Verified, error) {
	return func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
		if !errors.Is(err, target) {
			t.Fatalf("err = %v, want %v", err, target)
		}
	}
}

func wantErrContains(s string) func(*testing.T, *etree.Element, *Verified, error) {
	return func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Fatalf("err = %v, want one mentioning %q", err, s)
		}
	}
}

func wantAlgorithmError(kind string) func(*testing.T, *etree.Element, *Verified, error) {
	return func(t *testing.T, _ *etree.Element, _ *Verified, err error) {
		var ae *AlgorithmError
		if !errors.As(err, &ae) || ae.Kind != kind {
			t.Fatalf("err = %v, want AlgorithmError for %s", err, kind)
		}
	}
}

func TestRSARoundTrip(t *testing.T) {
	priv := testkit.Client().RSAKey()
	for _, method := range []string{RSASHA1, RSASHA256} {
		t.Run(method, func(t *testing.T) {
			d := parseString(t, bodySigned)
			sec := security(t, d.Root())
			k, err := RSASigningKey(method, priv)
			if err != nil {
				t.Fatal(err)
			}
			s := Signer{Key: k, Digest: SHA256}
			if _, err := s.Sign(sec, Reference{Element: sec.ChildElements()[0]}); err != nil {
				t.Fatal(err)
			}
			root := parseString(t, string(xmldoc.Serialize(d.Root()))).Root()
			resolve := func(_ *etree.Element, m string) (VerifyingKey, error) { return RSAVerifyingKey(m, &priv.PublicKey) }
			if _, err := Verify(root, signatureOf(t, root), resolve, DefaultPolicy); err != nil {
				t.Fatal(err)
			}
			other := testkit.OtherClient().RSAKey()
			resolveOther := func(_ *etree.Element, m string) (VerifyingKey, error) { return RSAVerifyingKey(m, &other.PublicKey) }
			if _, err := Verify(root, signatureOf(t, root), resolveOther, DefaultPolicy); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify with another key: %v", err)
			}
		})
	}
}
