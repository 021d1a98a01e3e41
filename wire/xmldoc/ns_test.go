package xmldoc_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

func mustParse(t testing.TB, src string) *xmldoc.Doc {
	t.Helper()
	d, err := xmldoc.Parse([]byte(src), xmldoc.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

// lookupDoc has, under its root: two urn:a items (different prefixes), one
// urn:b item, one wrong-namespace "single", one right "single", an "only"
// in another namespace, and a grandchild "deep".
const lookupDoc = `<r xmlns="urn:root" xmlns:a="urn:a" xmlns:a2="urn:a" xmlns:b="urn:b">` +
	`<a:item n="1"/><b:item n="2"/><a2:item n="3"/>` +
	`<b:single n="4"/><a:single n="5"/>` +
	`<b:only n="6"/>` +
	`<a:wrap><a:deep/></a:wrap>` +
	`<plain n="7"/>` +
	`</r>`

func nOf(el *etree.Element) string {
	if el == nil {
		return "<nil>"
	}
	return el.SelectAttrValue("n", "?")
}

func TestOne(t *testing.T) {
	root := mustParse(t, lookupDoc).Root()
	cases := []struct {
		name    string
		want    xmldoc.Name
		n       string // n of the element found
		count   int    // DuplicateError.Count
		missing bool
		wrongNS string
	}{
		{name: "one in the right namespace despite a namesake", want: xmldoc.Name{Space: "urn:a", Local: "single"}, n: "5"},
		{name: "other namespace of the namesake", want: xmldoc.Name{Space: "urn:b", Local: "single"}, n: "4"},
		{name: "default namespace matched by URI", want: xmldoc.Name{Space: "urn:root", Local: "plain"}, n: "7"},
		{name: "two prefixes for one URI are duplicates", want: xmldoc.Name{Space: "urn:a", Local: "item"}, count: 2},
		{name: "missing", want: xmldoc.Name{Space: "urn:a", Local: "absent"}, missing: true},
		{name: "missing, present in another namespace", want: xmldoc.Name{Space: "urn:a", Local: "only"}, missing: true, wrongNS: "urn:b"},
		{name: "unqualified name does not match the default namespace", want: xmldoc.Name{Local: "plain"}, missing: true, wrongNS: "urn:root"},
		{name: "grandchildren are not children", want: xmldoc.Name{Space: "urn:a", Local: "deep"}, missing: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el, err := xmldoc.One(root, tc.want)
			var nf *xmldoc.NotFoundError
			var dup *xmldoc.DuplicateError
			switch {
			case tc.missing:
				if !errors.As(err, &nf) {
					t.Fatalf("err = %v, want *NotFoundError", err)
				}
				if nf.Want != tc.want || nf.WrongSpace != tc.wrongNS || nf.Parent != (xmldoc.Name{Space: "urn:root", Local: "r"}) {
					t.Errorf("NotFoundError %+v", nf)
				}
				if tc.wrongNS != "" && !strings.Contains(err.Error(), tc.wrongNS) {
					t.Errorf("message %q does not name the namespace found", err)
				}
			case tc.count > 0:
				if !errors.As(err, &dup) || dup.Count != tc.count || dup.Want != tc.want {
					t.Fatalf("err = %v, want DuplicateError count %d", err, tc.count)
				}
			default:
				if err != nil || nOf(el) != tc.n {
					t.Fatalf("got n=%s err=%v, want n=%s", nOf(el), err, tc.n)
				}
			}
			if err != nil && el != nil {
				t.Error("an element returned together with an error")
			}
		})
	}
}

func TestOptional(t *testing.T) {
	root := mustParse(t, lookupDoc).Root()
	if el, err := xmldoc.Optional(root, xmldoc.Name{Space: "urn:a", Local: "absent"}); el != nil || err != nil {
		t.Errorf("absent: %v, %v; want nil, nil", el, err)
	}
	if el, err := xmldoc.Optional(root, xmldoc.Name{Space: "urn:a", Local: "only"}); el != nil || err != nil {
		t.Errorf("only in another namespace: %v, %v; want nil, nil", el, err)
	}
	if el, err := xmldoc.Optional(root, xmldoc.Name{Space: "urn:b", Local: "only"}); nOf(el) != "6" || err != nil {
		t.Errorf("present: n=%s, %v", nOf(el), err)
	}
	var dup *xmldoc.DuplicateError
	if el, err := xmldoc.Optional(root, xmldoc.Name{Space: "urn:a", Local: "item"}); el != nil || !errors.As(err, &dup) || dup.Count != 2 {
		t.Errorf("duplicate: %v, %v", el, err)
	}
}

func TestChildrenIsNameOf(t *testing.T) {
	root := mustParse(t, lookupDoc).Root()
	items := xmldoc.Children(root, xmldoc.Name{Space: "urn:a", Local: "item"})
	if len(items) != 2 || nOf(items[0]) != "1" || nOf(items[1]) != "3" {
		t.Errorf("Children urn:a item: %d elements", len(items))
	}
	if got := xmldoc.NameOf(items[1]); got != (xmldoc.Name{Space: "urn:a", Local: "item"}) || got.String() != "{urn:a}item" {
		t.Errorf("NameOf = %v", got)
	}
	if xmldoc.Is(nil, xmldoc.Name{Local: "r"}) {
		t.Error("Is(nil) is true")
	}
	if xmldoc.Is(items[0], xmldoc.Name{Space: "a", Local: "item"}) {
		t.Error("Is matched a prefix as if it were a namespace")
	}
	d := mustParse(t, `<r xmlns="urn:d"><c xmlns=""/></r>`)
	if n := xmldoc.NameOf(d.Root().ChildElements()[0]); n != (xmldoc.Name{Local: "c"}) || n.String() != "c" {
		t.Errorf("undeclared default: NameOf = %v", n)
	}
}

func TestAttr(t *testing.T) {
	src := `<r xmlns:a="urn:1" xmlns:b="urn:2" xmlns:wsu="urn:fake-wsu" xmlns="urn:d" ` +
		`a:id="one" b:id="two" id="none" wsu:Id="forged" xml:lang="en">` +
		`<c xmlns:a="urn:3" a:id="shadowed" b:id="inherited"/></r>`
	root := mustParse(t, src).Root()
	c := root.ChildElements()[0]
	realWSU := "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	cases := []struct {
		name string
		el   *etree.Element
		n    xmldoc.Name
		want string
		ok   bool
	}{
		{"first namespace", root, xmldoc.Name{Space: "urn:1", Local: "id"}, "one", true},
		{"second namespace", root, xmldoc.Name{Space: "urn:2", Local: "id"}, "two", true},
		{"unqualified", root, xmldoc.Name{Local: "id"}, "none", true},
		{"unknown namespace", root, xmldoc.Name{Space: "urn:9", Local: "id"}, "", false},
		{"prefix bound to another URI does not match", root, xmldoc.Name{Space: realWSU, Local: "Id"}, "", false},
		{"prefix is not a namespace", root, xmldoc.Name{Space: "a", Local: "id"}, "", false},
		{"default namespace does not apply to attributes", root, xmldoc.Name{Space: "urn:d", Local: "id"}, "", false},
		{"xml namespace", root, xmldoc.Name{Space: xmldoc.NSXML, Local: "lang"}, "en", true},
		{"declarations are not attributes", root, xmldoc.Name{Local: "xmlns"}, "", false},
		{"prefixed declarations are not attributes", root, xmldoc.Name{Space: xmldoc.NSXMLNS, Local: "a"}, "", false},
		{"shadowed prefix resolves to the inner URI", c, xmldoc.Name{Space: "urn:3", Local: "id"}, "shadowed", true},
		{"shadowed prefix no longer means the outer URI", c, xmldoc.Name{Space: "urn:1", Local: "id"}, "", false},
		{"prefix inherited from the parent", c, xmldoc.Name{Space: "urn:2", Local: "id"}, "inherited", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := xmldoc.Attr(tc.el, tc.n)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Attr(%v) = %q, %v; want %q, %v", tc.n, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestWithAttr(t *testing.T) {
	wsu := "urn:wsu"
	src := `<r xmlns:u="urn:wsu" xmlns:f="urn:fake" u:Id="x"><a u:Id="y"><b xmlns:v="urn:wsu" v:Id="x"/></a><c f:Id="x"/><d Id="x"/></r>`
	root := mustParse(t, src).Root()
	got := xmldoc.WithAttr(root, xmldoc.Name{Space: wsu, Local: "Id"}, "x")
	if len(got) != 2 || got[0] != root || got[1].Tag != "b" {
		var tags []string
		for _, e := range got {
			tags = append(tags, e.Tag)
		}
		t.Errorf("WithAttr wsu:Id=x found %v, want [r b]", tags)
	}
	if got := xmldoc.WithAttr(root, xmldoc.Name{Space: wsu, Local: "Id"}, "none"); len(got) != 0 {
		t.Errorf("found %d elements for an absent value", len(got))
	}
}

func TestTextTrimsXMLWhitespaceOnly(t *testing.T) {
	root := mustParse(t, "<r> \t\r\n x y \u00a0\n</r>").Root()
	if got := xmldoc.Text(root); got != "x y \u00a0" {
		t.Errorf("Text = %q", got)
	}
	root = mustParse(t, "<r>  <![CDATA[ a ]]> <c/>tail </r>").Root()
	if got := xmldoc.Text(root); got != "a" {
		t.Errorf("Text with CDATA = %q (etree's Text is the text before the first child)", got)
	}
}

func TestInScope(t *testing.T) {
	src := `<r xmlns="urn:d" xmlns:p="urn:p1" xmlns:q="urn:q"><a xmlns:p="urn:p2"><b xmlns=""><c xmlns:z="urn:z"/></b></a></r>`
	root := mustParse(t, src).Root()
	cases := []struct {
		name string
		el   *etree.Element
		want map[string]string
	}{
		{"root", root, map[string]string{"": "urn:d", "p": "urn:p1", "q": "urn:q"}},
		{"shadowed prefix", root.FindElement("a"), map[string]string{"": "urn:d", "p": "urn:p2", "q": "urn:q"}},
		{"default undeclared is omitted", root.FindElement("a/b"), map[string]string{"p": "urn:p2", "q": "urn:q"}},
		{"own declarations included", root.FindElement("a/b/c"), map[string]string{"p": "urn:p2", "q": "urn:q", "z": "urn:z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := xmldoc.InScope(tc.el); !maps.Equal(got, tc.want) {
				t.Errorf("InScope = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWalkDocumentOrderAndDepth(t *testing.T) {
	root := mustParse(t, `<a><b><c/><d/></b><e><f/></e></a>`).Root()
	var order []string
	xmldoc.Walk(root, func(e *etree.Element) { order = append(order, e.Tag) })
	if got := strings.Join(order, ""); got != "abcdef" {
		t.Errorf("Walk order %s, want abcdef", got)
	}

	// Deep enough that a recursive walk would be a real stack; not 100,000,
	// because Parse is quadratic in depth when limits are raised that far
	// (see TestParseDepthIsLinear).
	const depth = 10_000
	d, err := xmldoc.Parse([]byte(strings.Repeat("<a>", depth)+strings.Repeat("</a>", depth)), xmldoc.Options{Limits: xmldoc.Limits{MaxDepth: depth, MaxElements: depth}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	xmldoc.Walk(d.Root(), func(*etree.Element) { n++ })
	if n != depth {
		t.Errorf("Walk visited %d of %d nested elements", n, depth)
	}
}

// TestSerializeEscapesCanonically: what Serialize writes must read back as
// the same characters through a normalizing parser, so whitespace in
// attribute values is written as character references.
func TestSerializeEscapesCanonically(t *testing.T) {
	src := `<r a="t&#9;n&#10;c&#13;q&quot;l&lt;g&gt;a&amp;">x&#13;y&lt;&gt;&amp;"'</r>`
	d := mustParse(t, src)
	want := `<r a="t&#x9;n&#xA;c&#xD;q&quot;l&lt;g>a&amp;">x&#xD;y&lt;&gt;&amp;"'</r>`
	if got := string(xmldoc.Serialize(d.Root())); got != want {
		t.Errorf("Serialize\n got %s\nwant %s", got, want)
	}
	if got := string(xmldoc.SerializeDoc(d.Document)); got != want {
		t.Errorf("SerializeDoc\n got %s\nwant %s", got, want)
	}
	again := mustParse(t, want)
	if v, _ := xmldoc.Attr(again.Root(), xmldoc.Name{Local: "a"}); v != "t\tn\nc\rq\"l<g>a&" {
		t.Errorf("round trip attribute %q", v)
	}
}
