package c14n_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
)

// subtreeCase canonicalizes the element at path (child-element indexes from
// the root) with a PrefixList. The expected outputs are derived by hand from
// Exclusive XML Canonicalization 1.0 §3: a namespace node is rendered on an
// element when the element or one of its attributes visibly utilizes its
// prefix, or its prefix is in the InclusiveNamespaces PrefixList, and the
// nearest output ancestor has not already rendered the same binding.
type subtreeCase struct {
	name      string
	src       string
	path      []int
	inclusive []string
	want      string
}

var subtreeCases = []subtreeCase{
	{
		name: "ancestor bindings rendered on the apex",
		src:  `<s:Envelope xmlns:s="urn:s" xmlns:u="urn:u" xmlns:unused="urn:x" xmlns="urn:d"><s:Header><u:Timestamp u:Id="_0"><u:Created>c</u:Created></u:Timestamp></s:Header></s:Envelope>`,
		path: []int{0, 0},
		want: `<u:Timestamp xmlns:u="urn:u" u:Id="_0"><u:Created>c</u:Created></u:Timestamp>`,
	},
	{
		name: "attribute prefix bound on an ancestor",
		src:  `<r xmlns:a="urn:a" xmlns:b="urn:b"><x a:k="1"><y b:k="2"/></x></r>`,
		path: []int{0},
		want: `<x xmlns:a="urn:a" a:k="1"><y xmlns:b="urn:b" b:k="2"></y></x>`,
	},
	{
		name: "inherited default rendered on unprefixed apex",
		src:  `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><c><d/></c></p:b></a>`,
		path: []int{0, 0},
		want: `<c xmlns="urn:d"><d></d></c>`,
	},
	{
		name: "no xmlns empty on apex without a default namespace",
		src:  `<p:a xmlns:p="urn:p"><b><c/></b></p:a>`,
		path: []int{0},
		want: `<b><c></c></b>`,
	},
	{
		name: "no xmlns empty on apex whose ancestor undeclared the default",
		src:  `<a xmlns="urn:d"><p:b xmlns:p="urn:p" xmlns=""><c><e/></c></p:b></a>`,
		path: []int{0, 0},
		want: `<c><e></e></c>`,
	},
	{
		name: "xmlns empty below an apex that rendered a default",
		src:  `<a xmlns="urn:d"><b><p:c xmlns:p="urn:p"><e xmlns=""/></p:c></b></a>`,
		path: []int{0},
		want: `<b xmlns="urn:d"><p:c xmlns:p="urn:p"><e xmlns=""></e></p:c></b>`,
	},
	{
		name: "prefixed apex in default namespace context without PrefixList",
		src:  `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c/></p:b></a>`,
		path: []int{0},
		want: `<p:b xmlns:p="urn:p"><p:c></p:c></p:b>`,
	},
	{
		name:      "#default renders the default namespace on a prefixed apex",
		src:       `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c/></p:b></a>`,
		path:      []int{0},
		inclusive: []string{"#default"},
		want:      `<p:b xmlns="urn:d" xmlns:p="urn:p"><p:c></p:c></p:b>`,
	},
	{
		name:      "#default then undeclared below renders xmlns empty",
		src:       `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c xmlns=""><p:d/></p:c></p:b></a>`,
		path:      []int{0},
		inclusive: []string{"#default"},
		want:      `<p:b xmlns="urn:d" xmlns:p="urn:p"><p:c xmlns=""><p:d></p:d></p:c></p:b>`,
	},
	{
		name: "undeclared default below a prefixed apex without #default",
		src:  `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c xmlns=""><p:d/></p:c></p:b></a>`,
		path: []int{0},
		want: `<p:b xmlns:p="urn:p"><p:c><p:d></p:d></p:c></p:b>`,
	},
	{
		name:      "#default with no default namespace in scope renders nothing",
		src:       `<p:a xmlns:p="urn:p"><p:b/></p:a>`,
		path:      []int{0},
		inclusive: []string{"#default"},
		want:      `<p:b xmlns:p="urn:p"></p:b>`,
	},
	{
		name:      "#default redeclared below renders again",
		src:       `<a xmlns="urn:d1" xmlns:p="urn:p"><p:b><p:c xmlns="urn:d2"/></p:b></a>`,
		path:      []int{0},
		inclusive: []string{"#default"},
		want:      `<p:b xmlns="urn:d1" xmlns:p="urn:p"><p:c xmlns="urn:d2"></p:c></p:b>`,
	},
	{
		name:      "WSS4J PrefixList wsse s on a Timestamp",
		src:       `<s:Envelope xmlns:s="urn:s"><s:Header><wsse:Security xmlns:wsse="urn:wsse" xmlns:wsu="urn:wsu"><wsu:Timestamp wsu:Id="TS-1"><wsu:Created>c</wsu:Created></wsu:Timestamp></wsse:Security></s:Header></s:Envelope>`,
		path:      []int{0, 0, 0},
		inclusive: []string{"wsse", "s"},
		want:      `<wsu:Timestamp xmlns:s="urn:s" xmlns:wsse="urn:wsse" xmlns:wsu="urn:wsu" wsu:Id="TS-1"><wsu:Created>c</wsu:Created></wsu:Timestamp>`,
	},
	{
		name:      "listed prefix not in scope renders nothing",
		src:       `<a xmlns:p="urn:p"><p:b/></a>`,
		path:      []int{0},
		inclusive: []string{"q", "p"},
		want:      `<p:b xmlns:p="urn:p"></p:b>`,
	},
	{
		name:      "listed prefix rebound below renders again even unused",
		src:       `<r xmlns:a="urn:1"><x><y xmlns:a="urn:2"/><z xmlns:a="urn:1"/></x></r>`,
		path:      []int{0},
		inclusive: []string{"a"},
		want:      `<x xmlns:a="urn:1"><y xmlns:a="urn:2"></y><z></z></x>`,
	},
	{
		name: "rebound prefix without PrefixList stays unrendered when unused",
		src:  `<r xmlns:a="urn:1"><x><y xmlns:a="urn:2"/><z xmlns:a="urn:1"/></x></r>`,
		path: []int{0},
		want: `<x><y></y><z></z></x>`,
	},
	{
		name: "ancestor xml attributes are not inherited",
		src:  `<r xml:lang="en" xml:space="preserve"><x xml:lang="fr"><y/></x></r>`,
		path: []int{0},
		want: `<x xml:lang="fr"><y></y></x>`,
	},
	{
		name: "declarations on the apex shadow inherited ones",
		src:  `<r xmlns:p="urn:outer"><p:x xmlns:p="urn:inner"/></r>`,
		path: []int{0},
		want: `<p:x xmlns:p="urn:inner"></p:x>`,
	},
	{
		name: "attributes ordered by namespace URI not prefix in a subtree",
		src:  `<r xmlns:z="urn:a" xmlns:a="urn:z"><x a:k="1" z:k="2" k="3"/></r>`,
		path: []int{0},
		want: `<x xmlns:a="urn:z" xmlns:z="urn:a" k="3" z:k="2" a:k="1"></x>`,
	},
	{
		// libxml2 (and so xmllint) writes namespace URIs without escaping;
		// C14N 1.0 §2.3 processes namespace nodes like attributes, whose
		// values escape &, < and ", which .NET and Santuario do too.
		name: "namespace URI escaped like an attribute value",
		src:  `<p:a xmlns:p="urn:a&amp;b?c=d" p:x="1"><q:b xmlns:q="http://example.com/a&#x26;b"/></p:a>`,
		want: `<p:a xmlns:p="urn:a&amp;b?c=d" p:x="1"><q:b xmlns:q="http://example.com/a&amp;b"></q:b></p:a>`,
	},
	{
		name: "explicit xmlns:xml declaration is never rendered",
		src:  `<a xmlns:xml="http://www.w3.org/XML/1998/namespace"><b xml:lang="en"/></a>`,
		path: []int{0},
		want: `<b xml:lang="en"></b>`,
	},
}

func TestExclusiveSubtree(t *testing.T) {
	for _, tc := range subtreeCases {
		t.Run(tc.name, func(t *testing.T) {
			el := byPath(t, parse(t, []byte(tc.src)).Root(), tc.path...)
			got, err := c14n.Exclusive(el, tc.inclusive)
			if err != nil {
				t.Fatalf("Exclusive: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestExclusiveDoesNotMutate serializes the whole document before and after
// canonicalizing each subtree: Exclusive works on a copy, so neither the
// element nor its ancestors may change (attribute order, declarations,
// comments, xmlns="" all included).
func TestExclusiveDoesNotMutate(t *testing.T) {
	for _, tc := range subtreeCases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			d := parse(t, []byte(src))
			el := byPath(t, d.Root(), tc.path...)
			before := serializeDoc(t, d)
			attrs := slices.Clone(el.Attr)
			if _, err := c14n.Exclusive(el, tc.inclusive); err != nil {
				t.Fatalf("Exclusive: %v", err)
			}
			if after := serializeDoc(t, d); after != before {
				t.Errorf("document changed:\nbefore %s\nafter  %s", before, after)
			}
			if !slices.Equal(el.Attr, attrs) {
				t.Errorf("attributes changed: before %v after %v", attrs, el.Attr)
			}
			if el.Parent() == nil && len(tc.path) > 0 {
				t.Error("element was detached from its parent")
			}
		})
	}
}

// TestExclusiveDoesNotMutateCommentsAndOrder covers what the subtree table
// does not: a tree with comments and attributes out of canonical order.
func TestExclusiveDoesNotMutateCommentsAndOrder(t *testing.T) {
	src := `<r xmlns:z="urn:a" xmlns:a="urn:z" xmlns="urn:d"><!--c--><x b="1" a:k="2" z:k="3" xmlns:unused="urn:u"><!--d--><y xmlns=""/></x></r>`
	d := parse(t, []byte(src))
	before := serializeDoc(t, d)
	for _, el := range []*struct{ path []int }{{nil}, {[]int{0}}, {[]int{0, 0}}} {
		if _, err := c14n.Exclusive(byPath(t, d.Root(), el.path...), []string{"#default", "z"}); err != nil {
			t.Fatal(err)
		}
	}
	if after := serializeDoc(t, d); after != before {
		t.Errorf("document changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestExclusiveConcurrent canonicalizes subtrees of one shared document from
// many goroutines; under -race it fails if Exclusive writes to the tree.
func TestExclusiveConcurrent(t *testing.T) {
	d := parse(t, largeDocument(200))
	body := byPath(t, d.Root(), 0)
	want, err := c14n.Exclusive(body, []string{"#default", "z"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := c14n.Exclusive(body, []string{"#default", "z"})
			if err != nil || string(got) != string(want) {
				t.Errorf("concurrent result differs (err %v)", err)
			}
			_, _ = c14n.Exclusive(byPath(t, d.Root(), 0, 0, 3), nil)
		})
	}
	wg.Wait()
}

// TestExclusiveNilAndEmptyPrefixList: an absent PrefixList, an empty one and
// one holding only unknown prefixes give the same output.
func TestExclusiveNilAndEmptyPrefixList(t *testing.T) {
	d := parse(t, []byte(`<a xmlns="urn:d" xmlns:p="urn:p"><p:b x="1"><c/></p:b></a>`))
	el := byPath(t, d.Root(), 0)
	want := `<p:b xmlns:p="urn:p" x="1"><c xmlns="urn:d"></c></p:b>`
	for _, list := range [][]string{nil, {}, {"nope"}} {
		got, err := c14n.Exclusive(el, list)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("PrefixList %q: got %s, want %s", list, got, want)
		}
	}
}

// TestExclusiveUnboundPrefix: a tree built in code (not parsed) can use a
// prefix nobody declared; canonicalizing it must fail rather than sign
// bytes no peer can parse.
func TestExclusiveUnboundPrefix(t *testing.T) {
	cases := []struct {
		name  string
		build func() *etree.Element
	}{
		{"element prefix", func() *etree.Element { return etree.NewElement("p:x") }},
		{"attribute prefix", func() *etree.Element {
			e := etree.NewElement("x")
			e.CreateAttr("q:a", "1")
			return e
		}},
		{"attribute prefix on a descendant", func() *etree.Element {
			e := etree.NewElement("x")
			e.CreateAttr("xmlns:p", "urn:p")
			e.CreateElement("p:y").CreateAttr("q:a", "1")
			return e
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c14n.Exclusive(tc.build(), nil)
			if err == nil {
				t.Errorf("no error; output %s", out)
			}
		})
	}
}
