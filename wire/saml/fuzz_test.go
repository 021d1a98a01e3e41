package saml

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParsers feeds arbitrary documents to every reader of this package:
// Parse and Verify on each element, ParseRequest and ParseResponse in both
// versions, Referenced and DecryptKey. Whatever the input they must
// return, not panic. Verify must accept nothing, since no issuer is
// trusted but the test's own and the seeds' signatures are not its (the
// seeds, in testdata/fuzz/FuzzParsers, are a signed assertion of another
// issuer and minimal ones of each version); an assertion Parse reads has
// an ID, and Referenced finds by that ID only an assertion carrying it; a
// token ParseResponse keeps is a substring of the input; a key DecryptKey
// opens is of a size wire/keys accepts.
func FuzzParsers(f *testing.F) {
	issuer, rp, _, _ := loadParties(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
		if err != nil {
			return
		}
		o := options(issuer, rp)
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			if a, err := Parse(el); err == nil {
				checkReferenced(t, d.Root(), a)
			}
			if v, err := Verify(el, o); err == nil {
				t.Fatalf("verified %v", v)
			}
			if xmldoc.Is(el, xencName("EncryptedKey")) {
				if k, err := DecryptKey(el, rp.cert, rp.key); err == nil && keys.CheckKeyBits(len(k)*8) != nil {
					t.Fatalf("a proof key of %d bytes", len(k))
				}
			}
			for _, v := range wssc.Versions {
				_, _ = ParseRequest(el, v)
				if r, err := ParseResponse(d, el, v); err == nil && (!bytes.Contains(src, r.Token.Bytes) || r.Assertion.ID == "") {
					t.Fatalf("token bytes %q not in input, or no assertion ID", r.Token.Bytes)
				}
			}
		})
		for _, vt := range []string{wss.ValueTypeSAMLID, wss.ValueTypeSAMLAssertionID} {
			_, _, _ = Referenced(d.Root(), &wss.STR{KeyIdentifier: &wss.KeyIdentifier{ValueType: vt, Value: []byte("_1")}})
		}
	})
}

// checkReferenced: a parsed assertion has an ID and a kind, and a key
// identifier naming that ID resolves, if at all, to an assertion of that
// kind carrying it.
func checkReferenced(t *testing.T, root *etree.Element, a *Assertion) {
	t.Helper()
	if a.ID == "" || (a.Kind != SAML20 && a.Kind != SAML11) {
		t.Fatalf("parsed assertion %q of kind %v", a.ID, a.Kind)
	}
	el, kind, err := Referenced(root, &wss.STR{KeyIdentifier: &wss.KeyIdentifier{ValueType: a.Kind.ValueType(), Value: []byte(a.ID)}})
	if err != nil {
		return
	}
	if id, _ := xmldoc.Attr(el, kind.IDAttr()); kind != a.Kind || id != a.ID {
		t.Fatalf("a reference to %s %q resolved to %s %q", a.Kind, a.ID, kind, id)
	}
}
