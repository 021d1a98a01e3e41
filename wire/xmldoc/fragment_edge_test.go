package xmldoc_test

import (
	"maps"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// edgeDoc has CRLF line ends, a literal tab inside an attribute value (read
// as a space, XML 1.0 §3.3.3) and start tags that end right after the name,
// at a line break, or self-close: the shapes Fragment.with must splice
// declarations into.
const edgeDoc = "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\">\r\n" +
	"<f/>" +
	"<p:g\r\n\ta=\"x\ty\"\r\n>t\r\n</p:g>" +
	"<p:h>x</p:h>" +
	"</r>"

// TestFragmentEdgeShapes: Bytes are the input bytes untouched (CRLF and the
// literal tab included), Element splices the borrowed declarations into
// each start-tag shape and reads back an element that canonicalizes like
// the original in place.
func TestFragmentEdgeShapes(t *testing.T) {
	d, err := xmldoc.Parse([]byte(edgeDoc), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	kids := d.Root().ChildElements()
	cases := []struct {
		name     string
		el       *etree.Element
		bytes    string
		bindings map[string]string
		element  string // Serialize of Element()
	}{
		{"self-closing, default namespace borrowed", kids[0], `<f/>`, map[string]string{"": "urn:d"}, `<f xmlns="urn:d"/>`},
		{"line break after the name, CRLF and tab kept", kids[1], "<p:g\r\n\ta=\"x\ty\"\r\n>t\r\n</p:g>", map[string]string{"p": "urn:p"},
			"<p:g xmlns:p=\"urn:p\" a=\"x y\">t\n</p:g>"},
		{"no attributes", kids[2], `<p:h>x</p:h>`, map[string]string{"p": "urn:p"}, `<p:h xmlns:p="urn:p">x</p:h>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := d.Fragment(tc.el)
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Bytes) != tc.bytes {
				t.Errorf("Bytes = %q, want %q", f.Bytes, tc.bytes)
			}
			if !maps.Equal(f.Bindings, tc.bindings) {
				t.Errorf("Bindings = %v, want %v", f.Bindings, tc.bindings)
			}
			el, err := f.Element()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(xmldoc.Serialize(el)); got != tc.element {
				t.Errorf("Element serializes as %q, want %q", got, tc.element)
			}
			assertSameC14N(t, el, tc.el)
		})
	}
}

// TestSerializeWithSeveralFragments: each placeholder is replaced by its own
// fragment, each fragment borrowing only what its new position lacks, and
// a fragment standing in for the root gets every binding it borrows.
func TestSerializeWithSeveralFragments(t *testing.T) {
	d, err := xmldoc.Parse([]byte(edgeDoc), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	kids := d.Root().ChildElements()
	f0, err := d.Fragment(kids[0])
	if err != nil {
		t.Fatal(err)
	}
	f1, err := d.Fragment(kids[1])
	if err != nil {
		t.Fatal(err)
	}
	out := mustParse(t, `<o xmlns:p="urn:p"><a/><b/></o>`)
	slots := out.Root().ChildElements()
	got := string(xmldoc.SerializeWith(out.Root(), map[*etree.Element]xmldoc.Fragment{slots[0]: f0, slots[1]: f1}))
	want := "<o xmlns:p=\"urn:p\"><f xmlns=\"urn:d\"/><p:g\r\n\ta=\"x\ty\"\r\n>t\r\n</p:g></o>"
	if got != want {
		t.Errorf("two fragments:\n got %q\nwant %q", got, want)
	}

	got = string(xmldoc.SerializeWith(out.Root(), map[*etree.Element]xmldoc.Fragment{out.Root(): f1}))
	want = "<p:g xmlns:p=\"urn:p\"\r\n\ta=\"x\ty\"\r\n>t\r\n</p:g>"
	if got != want {
		t.Errorf("fragment as the root:\n got %q\nwant %q", got, want)
	}
	if again := mustParse(t, got).Root(); !xmldoc.Is(again, xmldoc.Name{Space: "urn:p", Local: "g"}) {
		t.Errorf("root fragment reads back as %v", xmldoc.NameOf(again))
	}
}

// TestFragmentOfRootBorrowsNothing: the root has no ancestors to borrow from.
func TestFragmentOfRootBorrowsNothing(t *testing.T) {
	d, err := xmldoc.Parse([]byte(edgeDoc), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Fragment(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Bytes) != edgeDoc || len(f.Bindings) != 0 {
		t.Errorf("root fragment: %d of %d bytes, bindings %v", len(f.Bytes), len(edgeDoc), f.Bindings)
	}
	x := mustParse(t, "<x a=\"\t\"><y/></x>").Root()
	if got, want := string(xmldoc.SerializeWith(x, nil)), string(xmldoc.Serialize(x)); got != want {
		t.Errorf("SerializeWith without fragments wrote %q, Serialize %q", got, want)
	}
}
