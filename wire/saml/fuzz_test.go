package saml

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParsers feeds arbitrary documents to every reader of this package:
// Parse and Verify on each element, ParseRequest and ParseResponse in both
// versions, Referenced and DecryptKey. Whatever the input they must
// return, not panic; a token ParseResponse keeps must be a substring of
// the input, and Verify must accept nothing, since no issuer is trusted
// but the test's own and the seeds' signatures are not its.
func FuzzParsers(f *testing.F) {
	issuer, rp, other, _ := loadParties(f)
	good := build(f, template(rp), other)
	f.Add(good)
	f.Add([]byte(`<a:Assertion xmlns:a="` + NS + `" ID="_1" IssueInstant="2025-06-01T12:00:00Z" Version="2.0"><a:Issuer>x</a:Issuer></a:Assertion>`))
	f.Add([]byte(`<s:Assertion xmlns:s="` + NS11 + `" MajorVersion="1" MinorVersion="1" AssertionID="_1" Issuer="x" IssueInstant="2025-06-01T12:00:00Z"/>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
		if err != nil {
			return
		}
		o := options(issuer, rp)
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			_, _ = Parse(el)
			if v, err := Verify(el, o); err == nil {
				t.Fatalf("verified %v", v)
			}
			if xmldoc.Is(el, xencName("EncryptedKey")) {
				_, _ = DecryptKey(el, rp.cert, rp.key)
			}
			for _, v := range wssc.Versions {
				_, _ = ParseRequest(el, v)
				if r, err := ParseResponse(d, el, v); err == nil && !bytes.Contains(src, r.Token.Bytes) {
					t.Fatalf("token bytes %q not in input", r.Token.Bytes)
				}
			}
		})
		for _, vt := range []string{wss.ValueTypeSAMLID, wss.ValueTypeSAMLAssertionID} {
			_, _, _ = Referenced(d.Root(), &wss.STR{KeyIdentifier: &wss.KeyIdentifier{ValueType: vt, Value: []byte("_1")}})
		}
	})
}
