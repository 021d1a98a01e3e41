package dsig

import (
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzVerify feeds arbitrary documents to the verifier with a fixed HMAC
// key. The seeds in testdata/fuzz/FuzzVerify are signed messages (ours and
// WCF's), so mutations explore near-valid signatures. Verify must never
// panic, and whatever it reports as verified must be an element of the
// document carrying the referenced Id exactly once.
func FuzzVerify(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(xmldoc.Serialize(signBody(f, key).Root()))
	f.Fuzz(func(t *testing.T, msg []byte) {
		d, err := xmldoc.Parse(msg, xmldoc.Options{})
		if err != nil {
			return
		}
		var sig *etree.Element
		xmldoc.Walk(d.Root(), func(e *etree.Element) {
			if sig == nil && xmldoc.Is(e, dsName("Signature")) {
				sig = e
			}
		})
		if sig == nil {
			return
		}
		resolve := func(_ *etree.Element, m string) (VerifyingKey, error) { return HMACKey(m, key) }
		v, err := Verify(d.Root(), sig, resolve, DefaultPolicy)
		if err != nil {
			return
		}
		for _, r := range v.References {
			n := 0
			for _, a := range IDAttributes {
				n += len(xmldoc.WithAttr(d.Root(), a, r.ID))
			}
			if n != 1 {
				t.Fatalf("verified reference %q matches %d elements", r.ID, n)
			}
		}
	})
}
