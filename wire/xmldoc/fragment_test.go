package xmldoc_test

import (
	"bytes"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	nsWSU   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsSC    = "http://schemas.xmlsoap.org/ws/2005/02/sc"
	vectors = "../../testdata/vectors"
)

// issueResponseSCT parses the CoreWCF issue response, as published
// (indented), and returns it with its SecurityContextToken.
func issueResponseSCT(t *testing.T) ([]byte, *xmldoc.Doc, *etree.Element) {
	t.Helper()
	src, err := os.ReadFile(vectors + "/corewcf/issue-response.pretty.xml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	var sct []*etree.Element
	xmldoc.Walk(d.Root(), func(e *etree.Element) {
		if xmldoc.Is(e, xmldoc.Name{Space: nsSC, Local: "SecurityContextToken"}) {
			sct = append(sct, e)
		}
	})
	if len(sct) != 1 {
		t.Fatalf("found %d SecurityContextTokens", len(sct))
	}
	return src, d, sct[0]
}

func TestFragmentOfVectorSCT(t *testing.T) {
	src, d, sct := issueResponseSCT(t)
	f, err := d.Fragment(sct)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, f.Bytes) || !bytes.HasPrefix(f.Bytes, []byte("<c:SecurityContextToken ")) || !bytes.HasSuffix(f.Bytes, []byte("</c:SecurityContextToken>")) {
		t.Errorf("Bytes is not the token exactly as received: %q", f.Bytes)
	}
	if n := bytes.Count(src, f.Bytes); n != 1 {
		t.Errorf("Bytes found %d times in the input", n)
	}
	if want := map[string]string{"u": nsWSU}; !maps.Equal(f.Bindings, want) {
		t.Errorf("Bindings = %v, want %v", f.Bindings, want)
	}
	raw, _ := d.Raw(sct)
	raw[0] = 'X' // Bytes must be a copy: the caller may reuse the input buffer
	if f.Bytes[0] != '<' {
		t.Error("Fragment.Bytes aliases the parsed input")
	}
	raw[0] = '<'
}

// TestFragmentSerializeWith places the token in a new message under parents
// that do or do not already bind its borrowed prefix.
func TestFragmentSerializeWith(t *testing.T) {
	_, d, sct := issueResponseSCT(t)
	f, err := d.Fragment(sct)
	if err != nil {
		t.Fatal(err)
	}
	decl := `xmlns:u="` + nsWSU + `"`
	withDecl := strings.Replace(string(f.Bytes), "<c:SecurityContextToken", "<c:SecurityContextToken "+decl, 1)
	cases := []struct {
		name     string
		parent   string
		addsDecl bool // whether the token needs its own u declaration there
	}{
		{"parent binds u to the same URI", `<o:Security xmlns:o="urn:o" ` + decl + `><slot/></o:Security>`, false},
		{"grandparent binds u", `<e ` + decl + `><o:Security xmlns:o="urn:o"><slot/></o:Security></e>`, false},
		{"no u in scope", `<o:Security xmlns:o="urn:o"><slot/></o:Security>`, true},
		{"u bound to another URI", `<o:Security xmlns:o="urn:o" xmlns:u="urn:other"><slot/></o:Security>`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := mustParse(t, tc.parent)
			slot := out.Root().FindElement("//slot")
			got := string(xmldoc.SerializeWith(out.Root(), map[*etree.Element]xmldoc.Fragment{slot: f}))
			wantFrag, extra := string(f.Bytes), 0
			if tc.addsDecl {
				wantFrag, extra = withDecl, 1
			}
			if !strings.Contains(got, wantFrag) {
				t.Fatalf("output does not contain the expected token bytes:\n got %s\nwant …%s…", got, wantFrag)
			}
			if n, want := strings.Count(got, "xmlns:u="), strings.Count(tc.parent, "xmlns:u=")+extra; n != want {
				t.Errorf("%d u declarations in the output, want %d: %s", n, want, got)
			}
			if strings.Contains(got, "<slot") {
				t.Error("placeholder written")
			}
			// The result is well-formed and the token, read back in place,
			// canonicalizes exactly as in the original response.
			back := mustParse(t, got)
			tok := back.Root().FindElement("//SecurityContextToken")
			assertSameC14N(t, tok, sct)
		})
	}
}

func TestFragmentElementCanonicalizesAsOriginal(t *testing.T) {
	_, d, sct := issueResponseSCT(t)
	f, err := d.Fragment(sct)
	if err != nil {
		t.Fatal(err)
	}
	el, err := f.Element()
	if err != nil {
		t.Fatal(err)
	}
	if el.Parent() != nil {
		t.Error("Element is still attached to a document")
	}
	if !xmldoc.Is(el, xmldoc.Name{Space: nsSC, Local: "SecurityContextToken"}) {
		t.Errorf("Element is %v", xmldoc.NameOf(el))
	}
	if id, _ := xmldoc.Attr(el, xmldoc.Name{Space: nsWSU, Local: "Id"}); id != "uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-1" {
		t.Errorf("u:Id = %q", id)
	}
	assertSameC14N(t, el, sct)
}

// TestFragmentBindings covers what the vector does not: default namespace
// borrowing, prefixes declared inside the fragment, attribute prefixes,
// shadowing, and the xml prefix. Apart from the first case the fragments
// use prefixed elements only, so the cases hold whether or not a fix for
// TestFragmentKeepsItsNamespacesWhenMoved records "no default namespace"
// as Bindings[""] = "".
func TestFragmentBindings(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want map[string]string
	}{
		{"default namespace borrowed", `<r xmlns="urn:d"><f><g/></f></r>`, map[string]string{"": "urn:d"}},
		{"own declarations borrow nothing", `<r xmlns:p="urn:p"><p:f xmlns:p="urn:p2"><p:g/></p:f></r>`, map[string]string{}},
		{"attribute prefix borrowed deep down", `<r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><c:f><c:g a:x="1"/></c:f></r>`, map[string]string{"a": "urn:a", "c": "urn:c"}},
		{"declared below, used above it is still borrowed", `<r xmlns:p="urn:p"><p:f><p:g xmlns:p="urn:x"/></p:f></r>`, map[string]string{"p": "urn:p"}},
		{"unused ancestor bindings not borrowed", `<r xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:d"><p:f/></r>`, map[string]string{"p": "urn:p"}},
		{"xml prefix never borrowed", `<r xmlns:p="urn:p"><p:f xml:lang="en"/></r>`, map[string]string{"p": "urn:p"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{KeepSpans: true})
			if err != nil {
				t.Fatal(err)
			}
			f, err := d.Fragment(d.Root().FindElement("//f"))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(f.Bindings, tc.want) {
				t.Errorf("Bindings = %v, want %v", f.Bindings, tc.want)
			}
			el, err := f.Element()
			if err != nil {
				t.Fatalf("Element: %v (bytes with bindings do not parse)", err)
			}
			assertSameC14N(t, el, d.Root().FindElement("//f"))
		})
	}
}

func TestFragmentNeedsSpans(t *testing.T) {
	src := []byte(`<r><f/></r>`)
	d, err := xmldoc.Parse(src, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Fragment(d.Root().ChildElements()[0]); err == nil || !strings.Contains(err.Error(), "KeepSpans") {
		t.Errorf("Fragment without KeepSpans: err = %v", err)
	}
	if _, ok := d.Raw(d.Root()); ok {
		t.Error("Raw reported bytes without KeepSpans")
	}
	other, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Raw(d.Root()); ok {
		t.Error("Raw returned bytes for an element of another document")
	}
}

func TestRawIsExactInput(t *testing.T) {
	src := "<?xml version=\"1.0\"?>\n<r  a = 'x' >\n\t<p:f xmlns:p=\"urn:p\" \n b=\"&#9;\"><![CDATA[<x>]]><!-- c --><g/></p:f ><h></h><i/></r>"
	d, err := xmldoc.Parse([]byte(src), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"r": src[strings.Index(src, "<r"):],
		"f": "<p:f xmlns:p=\"urn:p\" \n b=\"&#9;\"><![CDATA[<x>]]><!-- c --><g/></p:f >",
		"g": "<g/>",
		"h": "<h></h>",
		"i": "<i/>",
	}
	xmldoc.Walk(d.Root(), func(e *etree.Element) {
		raw, ok := d.Raw(e)
		if !ok || string(raw) != cases[e.Tag] {
			t.Errorf("Raw(%s) = %q, %v; want %q", e.Tag, raw, ok, cases[e.Tag])
		}
	})
}

func assertSameC14N(t *testing.T, got, want *etree.Element) {
	t.Helper()
	g, err := c14n.Exclusive(got, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c14n.Exclusive(want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("canonical forms differ:\n got %s\nwant %s", g, w)
	}
}

// TestFragmentKeepsItsNamespacesWhenMoved: wherever SerializeWith puts a
// fragment, every element in it must keep its expanded name, which the
// canonical form shows. The default-namespace cases matter because
// InScope omits an empty default: a fragment whose unprefixed elements are
// in no namespace must undeclare the new parent's default (xmlns="").
func TestFragmentKeepsItsNamespacesWhenMoved(t *testing.T) {
	cases := []struct{ name, src, parent string }{
		{"no-namespace fragment under a default namespace", `<r><f><g/></f></r>`, `<o:S xmlns:o="urn:o" xmlns="urn:d"><slot/></o:S>`},
		{"undeclared default under a default namespace", `<r xmlns="urn:x"><q xmlns=""><f a="1"/></q></r>`, `<S xmlns="urn:d"><slot/></S>`},
		{"default fragment under another default", `<r xmlns="urn:x"><f><g/></f></r>`, `<S xmlns="urn:d"><slot/></S>`},
		{"prefix rebound by the new parent", `<r xmlns:p="urn:p"><p:f p:a="1"/></r>`, `<p:S xmlns:p="urn:other"><slot/></p:S>`},
		{"prefixed fragment under a default namespace", `<r xmlns:p="urn:p"><p:f><p:g/></p:f></r>`, `<S xmlns="urn:d"><slot/></S>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{KeepSpans: true})
			if err != nil {
				t.Fatal(err)
			}
			orig := d.Root().FindElement("//f")
			f, err := d.Fragment(orig)
			if err != nil {
				t.Fatal(err)
			}
			out := mustParse(t, tc.parent)
			got := xmldoc.SerializeWith(out.Root(), map[*etree.Element]xmldoc.Fragment{out.Root().FindElement("//slot"): f})
			moved := mustParse(t, string(got)).Root().FindElement("//f")
			if xmldoc.NameOf(moved) != xmldoc.NameOf(orig) {
				t.Errorf("fragment root is %v after the move, was %v; output %s", xmldoc.NameOf(moved), xmldoc.NameOf(orig), got)
			}
			assertSameC14N(t, moved, orig)
		})
	}
}
