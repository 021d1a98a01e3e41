package dsig

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

var idAttr = xmldoc.Name{Local: "ID"}

// envelopedDoc returns a document whose root is signed with an enveloped
// HMAC signature placed after its first child.
func envelopedDoc(t *testing.T) string {
	t.Helper()
	d := parseString(t, `<a:Doc xmlns:a="urn:example" ID="_d1"><a:First>1</a:First><a:Second x="y">2</a:Second></a:Doc>`)
	key, err := HMACKey(HMACSHA256, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s := Signer{Key: key, Digest: SHA256}
	if _, err := s.SignEnveloped(d.Root(), idAttr, d.Root().ChildElements()[0]); err != nil {
		t.Fatal(err)
	}
	return string(xmldoc.Serialize(d.Root()))
}

func envelopedKey(t *testing.T) KeyResolver {
	return func(_ *etree.Element, method string) (VerifyingKey, error) {
		return HMACKey(method, []byte("0123456789abcdef0123456789abcdef"))
	}
}

func TestEnvelopedRoundTrip(t *testing.T) {
	src := envelopedDoc(t)
	if !strings.Contains(src, `<a:First>1</a:First><Signature xmlns="`+NS+`">`) || !strings.Contains(src, EnvelopedTransform) {
		t.Fatalf("signature misplaced:\n%s", src)
	}
	d := parseString(t, src)
	v, err := VerifyEnveloped(d.Root(), idAttr, envelopedKey(t), DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Covers(d.Root()) || len(v.References) != 1 || v.Method != HMACSHA256 {
		t.Fatalf("verified %+v", v)
	}
	if got := string(xmldoc.Serialize(d.Root())); got != src {
		t.Fatalf("verification changed the tree:\n%s", got)
	}
}

func TestEnvelopedRefuses(t *testing.T) {
	src := envelopedDoc(t)
	cases := []struct {
		name   string
		edit   func(string) string
		pol    *Policy // nil: DefaultPolicy
		want   error
		reason string
	}{
		{"tampered content", func(s string) string { return strings.Replace(s, ">2<", ">3<", 1) }, nil, &DigestError{}, "digest mismatch"},
		{"tampered attribute", func(s string) string { return strings.Replace(s, `x="y"`, `x="z"`, 1) }, nil, &DigestError{}, "digest mismatch"},
		{"transforms reversed", func(s string) string {
			return strings.Replace(strings.Replace(s, EnvelopedTransform, "TMP", 1), `Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>`, `Algorithm="`+EnvelopedTransform+`"/></Transforms>`, 1)
		}, nil, nil, "transform"},
		{"extra transform", func(s string) string {
			return strings.Replace(s, `</Transforms>`, `<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/></Transforms>`, 1)
		}, nil, nil, "exactly the enveloped-signature and exclusive c14n transforms"},
		{"no enveloped transform", func(s string) string {
			return strings.Replace(s, `<Transform Algorithm="`+EnvelopedTransform+`"/>`, ``, 1)
		}, nil, nil, "exactly the enveloped-signature and exclusive c14n transforms"},
		{"reference to another element", func(s string) string { return strings.Replace(s, `URI="#_d1"`, `URI="#_other"`, 1) }, nil, nil, "not its parent"},
		{"signature moved into a child", func(s string) string {
			i, j := strings.Index(s, "<Signature "), strings.Index(s, "</Signature>")+len("</Signature>")
			sig := s[i:j]
			s = s[:i] + s[j:]
			return strings.Replace(s, "</a:Second>", sig+"</a:Second>", 1)
		}, nil, nil, "missing"},
		{"two signatures", func(s string) string {
			i, j := strings.Index(s, "<Signature "), strings.Index(s, "</Signature>")+len("</Signature>")
			return s[:j] + s[i:j] + s[j:]
		}, nil, nil, "Signature"},
		{"method outside the policy", func(s string) string { return s }, &Policy{SignatureMethods: []string{RSASHA256}, DigestMethods: []string{SHA256}}, &AlgorithmError{}, "not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := parseString(t, tc.edit(src))
			pol := DefaultPolicy
			if tc.pol != nil {
				pol = *tc.pol
			}
			v, err := VerifyEnveloped(d.Root(), idAttr, envelopedKey(t), pol)
			if err == nil {
				t.Fatalf("accepted %+v", v)
			}
			switch want := tc.want.(type) {
			case *DigestError:
				if !errors.As(err, &want) {
					t.Errorf("error %v is not a DigestError", err)
				}
			case *AlgorithmError:
				if !errors.As(err, &want) {
					t.Errorf("error %v is not an AlgorithmError", err)
				}
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}
