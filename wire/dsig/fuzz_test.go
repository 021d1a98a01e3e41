package dsig

import (
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzVerify feeds arbitrary documents to the verifier with a fixed HMAC
// key. The seeds in testdata/fuzz/FuzzVerify are signed messages (ours,
// with this key, and WCF's), so mutations explore near-valid signatures.
// Verify must never panic, and what it reports as verified must be the
// signature it was given and elements of the document (not copies), each
// carrying its reference's Id, the only element of the document that
// does.
func FuzzVerify(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
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
		if v.Signature != sig {
			t.Fatalf("verified signature %p, given %p", v.Signature, sig)
		}
		for _, r := range v.References {
			if !inDocument(d.Root(), r.Element) || !carriesID(r.Element, r.ID) {
				t.Fatalf("verified reference %q is not an element of the document carrying it", r.ID)
			}
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

// inDocument reports whether el is root or one of its descendants.
func inDocument(root, el *etree.Element) bool {
	for e := el; e != nil; e = e.Parent() {
		if e == root {
			return true
		}
	}
	return false
}

// carriesID reports whether el has one of IDAttributes with value id.
func carriesID(el *etree.Element, id string) bool {
	for _, a := range IDAttributes {
		if v, ok := xmldoc.Attr(el, a); ok && v == id {
			return true
		}
	}
	return false
}
