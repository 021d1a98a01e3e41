package c14n_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzExclusive canonicalizes a subtree of an arbitrary document with an
// arbitrary PrefixList. Whatever the input, Exclusive returns; what it
// returns is a well-formed document whose canonical form is itself
// (canonicalization is idempotent), and the tree it was given is
// unchanged. Seeds are in testdata/fuzz/FuzzExclusive.
func FuzzExclusive(f *testing.F) {
	lim := xmldoc.Limits{MaxBytes: 64 << 10, MaxElements: 2000}
	f.Fuzz(func(t *testing.T, src []byte, pick uint16, prefixes string) {
		d, err := xmldoc.Parse(src, xmldoc.Options{Limits: lim})
		if err != nil {
			return
		}
		var els []*etree.Element
		xmldoc.Walk(d.Root(), func(el *etree.Element) { els = append(els, el) })
		el := els[int(pick)%len(els)]
		incl := strings.Fields(prefixes)
		if len(incl) > 8 {
			return
		}
		before := xmldoc.Serialize(d.Root())
		out, err := c14n.Exclusive(el, incl)
		if err != nil {
			return
		}
		if after := xmldoc.Serialize(d.Root()); !bytes.Equal(before, after) {
			t.Fatalf("Exclusive changed the tree:\n%s\n%s", before, after)
		}
		d2, err := xmldoc.Parse(out, xmldoc.Options{Limits: lim})
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, out)
		}
		again, err := c14n.Exclusive(d2.Root(), incl)
		if err != nil {
			t.Fatalf("canonical form cannot be canonicalized: %v\n%s", err, out)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("canonicalization is not idempotent:\n%s\n%s", out, again)
		}
	})
}
