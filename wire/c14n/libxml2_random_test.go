package c14n

// Randomized differential tests against libxml2. They live in the internal
// test package so that their helpers cannot collide with the external
// package's.

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// subsetScript is the libxml2 subtree oracle (see the script's header).
const subsetScript = "../../testdata/c14n/libxml2-subset-c14n.py"

// oracleRequest asks libxml2 for the exclusive canonical form of the element
// at Path (child-element indexes from the root) with a PrefixList.
type oracleRequest struct {
	Src       string   `json:"src"`
	Path      []int    `json:"path"`
	Inclusive []string `json:"inclusive"`
}

type oracleAnswer struct {
	C14N  *string `json:"c14n"`
	Error string  `json:"error"`
}

// libxml2Subset runs every request through libxml2 in one python3 process.
// Like the other oracles it skips outside CI when python3 is missing.
func libxml2Subset(t *testing.T, reqs []oracleRequest) []oracleAnswer {
	t.Helper()
	var answers []oracleAnswer
	oracle.PythonJSON(t, subsetScript, reqs, &answers)
	if len(answers) != len(reqs) {
		t.Fatalf("libxml2 oracle answered %d of %d requests", len(answers), len(reqs))
	}
	return answers
}

// TestSubsetOracleAgreesWithHandDerived pins the oracle itself to outputs
// derived by hand from Exclusive C14N §3 (and checked by xmlsec1 elsewhere),
// including "#default" and a PrefixList naming ancestor bindings, so that a
// broken oracle cannot make the random test vacuous.
func TestSubsetOracleAgreesWithHandDerived(t *testing.T) {
	cases := []struct {
		name string
		req  oracleRequest
		want string
	}{
		{
			name: "#default rendered on a prefixed apex",
			req:  oracleRequest{Src: `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c/></p:b></a>`, Path: []int{0}, Inclusive: []string{"#default"}},
			want: `<p:b xmlns="urn:d" xmlns:p="urn:p"><p:c></p:c></p:b>`,
		},
		{
			name: "no PrefixList: default not rendered on a prefixed apex",
			req:  oracleRequest{Src: `<a xmlns="urn:d" xmlns:p="urn:p"><p:b><p:c/></p:b></a>`, Path: []int{0}},
			want: `<p:b xmlns:p="urn:p"><p:c></p:c></p:b>`,
		},
		{
			name: "WSS4J PrefixList wsse s",
			req: oracleRequest{
				Src:       `<s:E xmlns:s="urn:s"><s:H><wsse:S xmlns:wsse="urn:wsse" xmlns:wsu="urn:wsu"><wsu:T wsu:Id="TS-1"><wsu:C>c</wsu:C></wsu:T></wsse:S></s:H></s:E>`,
				Path:      []int{0, 0, 0},
				Inclusive: []string{"wsse", "s"},
			},
			want: `<wsu:T xmlns:s="urn:s" xmlns:wsse="urn:wsse" xmlns:wsu="urn:wsu" wsu:Id="TS-1"><wsu:C>c</wsu:C></wsu:T>`,
		},
		{
			name: "comments dropped, attributes by namespace URI",
			req:  oracleRequest{Src: `<r xmlns:z="urn:a" xmlns:a="urn:z"><!--c--><x a:k="1" z:k="2" k="3"><!--d--></x></r>`, Path: []int{0}},
			want: `<x xmlns:a="urn:z" xmlns:z="urn:a" k="3" z:k="2" a:k="1"></x>`,
		},
	}
	reqs := make([]oracleRequest, len(cases))
	for i, tc := range cases {
		reqs[i] = tc.req
	}
	answers := libxml2Subset(t, reqs)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := answers[i]; a.C14N == nil || *a.C14N != tc.want {
				t.Errorf("oracle gives %v (error %q), want %s", deref(a.C14N), a.Error, tc.want)
			}
			got, err := Exclusive(elementAt(t, tc.req.Src, tc.req.Path), tc.req.Inclusive)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Exclusive gives %s, want %s", got, tc.want)
			}
		})
	}
}

// randomDocCount is how many documents the random tests generate; set
// SCPROXY_C14N_RANDOM=N to search longer.
func randomDocCount(t *testing.T) int {
	if s := os.Getenv("SCPROXY_C14N_RANDOM"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SCPROXY_C14N_RANDOM: %v", err)
		}
		return n
	}
	if testing.Short() {
		return 50
	}
	return 300
}

// TestRandomSubtreesMatchLibxml2 generates namespace-heavy documents from a
// fixed seed and canonicalizes random elements with random PrefixLists
// ("#default" included) both with Exclusive and with libxml2. Hand-written
// corpora test what their author thought of; this explores combinations of
// default-namespace undeclarations, rebinding, attribute order and escaping
// nobody wrote down.
func TestRandomSubtreesMatchLibxml2(t *testing.T) {
	n := randomDocCount(t)
	r := rand.New(rand.NewPCG(20261121, 2))
	var reqs []oracleRequest
	for range n {
		src := randomDocument(r)
		paths := elementPaths(t, src)
		reqs = append(reqs, oracleRequest{Src: src, Path: nil, Inclusive: nil})
		for range 3 {
			reqs = append(reqs, oracleRequest{Src: src, Path: paths[r.IntN(len(paths))], Inclusive: randomPrefixList(r)})
		}
	}
	answers := libxml2Subset(t, reqs)
	failures := 0
	for i, req := range reqs {
		a := answers[i]
		if a.C14N == nil {
			t.Errorf("libxml2 rejects generated document (%s): %q", a.Error, req.Src)
			continue
		}
		got, err := Exclusive(elementAt(t, req.Src, req.Path), req.Inclusive)
		if err != nil {
			t.Errorf("Exclusive: %v", err)
			continue
		}
		if string(got) != *a.C14N {
			failures++
			if failures <= 5 {
				t.Errorf("case %d differs from libxml2\n src:  %q\n path: %v list: %q\n got:  %q\n want: %q",
					i, req.Src, req.Path, req.Inclusive, got, *a.C14N)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d random cases differ from libxml2", failures, len(reqs))
	}
}

// TestRandomDocumentsMatchXMLLint runs part of the same generated documents
// through xmllint --exc-c14n, the command-line oracle of CI, so the subtree
// oracle's node-set construction is not the only route to libxml2.
func TestRandomDocumentsMatchXMLLint(t *testing.T) {
	n := min(randomDocCount(t), 100)
	r := rand.New(rand.NewPCG(20261121, 3))
	for i := range n {
		src := randomDocument(r)
		want := oracle.ExcC14N(t, []byte(src))
		got, err := Exclusive(elementAt(t, src, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("document %d differs from xmllint\n src:  %q\n got:  %q\n want: %q", i, src, got, want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func elementAt(t *testing.T, src string, path []int) *etree.Element {
	t.Helper()
	d, err := xmldoc.Parse([]byte(src), xmldoc.Options{})
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	el := d.Root()
	for _, i := range path {
		kids := el.ChildElements()
		if i >= len(kids) {
			t.Fatalf("path %v out of range", path)
		}
		el = kids[i]
	}
	return el
}

// elementPaths lists the child-index path of every element of src.
func elementPaths(t *testing.T, src string) [][]int {
	t.Helper()
	var out [][]int
	var walk func(el *etree.Element, path []int)
	walk = func(el *etree.Element, path []int) {
		out = append(out, path)
		for i, c := range el.ChildElements() {
			walk(c, append(slices.Clip(path), i))
		}
	}
	walk(elementAt(t, src, nil), []int{})
	return out
}

var (
	genPrefixes = []string{"a", "b", "p", "s", "u", "z"}
	// genURIs sort in an order unrelated to genPrefixes, include a prefix
	// of another URI and differ only in case, so attribute ordering by URI
	// and by prefix disagree often.
	genURIs       = []string{"urn:z", "urn:a", "urn:a:sub", "http://example.com/B", "urn:Z", "urn:m"}
	genLocalNames = []string{"a", "b", "Id", "k", "z"}
	genAttrPieces = []string{"x", "a b", "&amp;", "&lt;", "&gt;", "&quot;", "'", "&#xD;", "&#x9;", "&#xA;", "&#13;",
		"\t", "\n", "\r\n", "\r", "ü", "日本", "&#x1F600;", "=", " ", ">"}
	genTextPieces = []string{"t", " ", "\n", "\r\n", "\r", "\t", "&amp;", "&lt;", "&gt;", ">", "&#xD;", "&#13;",
		"&quot;", `"`, "'", "ü", "]]&gt;", "&#x9;", "&#xA;"}
	genCDATAPieces = []string{"<x>", "&amp;", "]]", "\r\n", "a", "\t"}
	genSpaces      = []string{" ", " ", " ", "\n  ", "\t", "\r\n "}
)

// randomDocument returns a namespace-well-formed document without comments
// (xmllint keeps them) and without a literal "]]>" in attribute values
// (that is its own known case in the corpus).
func randomDocument(r *rand.Rand) string {
	var b strings.Builder
	g := generator{r: r, b: &b}
	g.element(0, map[string]string{})
	return b.String()
}

type generator struct {
	r *rand.Rand
	b *strings.Builder
}

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func (g *generator) element(depth int, inherited map[string]string) {
	scope := maps.Clone(inherited)
	var decls []string // rendered declarations, in order
	declare := func(prefix, uri string) {
		scope[prefix] = uri
		if prefix == "" {
			decls = append(decls, `xmlns="`+uri+`"`)
		} else {
			decls = append(decls, `xmlns:`+prefix+`="`+uri+`"`)
		}
	}
	if g.chance(0.3) {
		if g.chance(0.4) {
			declare("", "")
		} else {
			declare("", g.pick(genURIs))
		}
	}
	for range g.r.IntN(3) {
		p := g.pick(genPrefixes)
		if !slices.ContainsFunc(decls, func(d string) bool { return strings.HasPrefix(d, "xmlns:"+p+"=") }) {
			declare(p, g.pick(genURIs))
		}
	}
	name := g.pick([]string{"e", "f", "Item"})
	if g.chance(0.5) {
		p := g.pick(genPrefixes)
		if _, ok := scope[p]; !ok {
			declare(p, g.pick(genURIs))
		}
		name = p + ":" + name
	}
	attrs := g.attributes(scope, declare)
	g.b.WriteString("<" + name)
	for _, a := range append(decls, attrs...) {
		g.b.WriteString(g.pick(genSpaces) + a)
	}
	if g.chance(0.2) {
		g.b.WriteString(g.pick(genSpaces))
	}
	n := 0
	if depth < 5 {
		n = g.r.IntN(5 - depth/2)
	}
	if n == 0 && g.chance(0.5) {
		g.b.WriteString("/>")
		return
	}
	g.b.WriteString(">")
	for range n {
		g.content(depth, scope)
	}
	g.b.WriteString("</" + name + ">")
}

// attributes returns attribute strings with distinct expanded names,
// declaring (through declare) any prefix not yet bound.
func (g *generator) attributes(scope map[string]string, declare func(prefix, uri string)) []string {
	var out []string
	seen := map[[2]string]bool{}
	for range g.r.IntN(4) {
		var name, uri, local string
		switch k := g.r.IntN(10); {
		case k < 4:
			local = g.pick(genLocalNames)
			name = local
		case k < 8:
			p := g.pick(genPrefixes)
			if _, ok := scope[p]; !ok {
				declare(p, g.pick(genURIs))
			}
			local, uri = g.pick(genLocalNames), scope[p]
			name = p + ":" + local
		default:
			local, uri = g.pick([]string{"lang", "space"}), xmldoc.NSXML
			name = "xml:" + local
		}
		if seen[[2]string{uri, local}] {
			continue
		}
		seen[[2]string{uri, local}] = true
		value := g.value(genAttrPieces, 4)
		if name == "xml:space" {
			value = "preserve"
		}
		out = append(out, name+`="`+value+`"`)
	}
	return out
}

func (g *generator) value(pieces []string, max int) string {
	var s strings.Builder
	for range g.r.IntN(max + 1) {
		s.WriteString(g.pick(pieces))
	}
	return s.String()
}

func (g *generator) content(depth int, scope map[string]string) {
	switch k := g.r.IntN(10); {
	case k < 4:
		g.element(depth+1, scope)
	case k < 7:
		g.b.WriteString(g.value(genTextPieces, 3))
	case k < 8:
		fmt.Fprintf(g.b, "<![CDATA[%s]]>", g.value(genCDATAPieces, 3))
	default:
		target := g.pick([]string{"pi", "x-y"})
		if g.chance(0.5) {
			fmt.Fprintf(g.b, "<?%s?>", target)
		} else {
			fmt.Fprintf(g.b, "<?%s%s%s?>", target, g.pick(genSpaces), g.value([]string{"d", " ", "&", "<>", "\t"}, 3))
		}
	}
}

// randomPrefixList returns nil, an empty list or a few prefixes, sometimes
// "#default" and sometimes a prefix never declared.
func randomPrefixList(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	pool := append([]string{"#default", "#default", "none"}, genPrefixes...)
	var out []string
	for range 1 + r.IntN(3) {
		p := pool[r.IntN(len(pool))]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// TestRandomCasesReachKnownDeviations shows that the random cases can fail:
// goxmldsig's canonicalizer without the corrections Exclusive applies (see
// its doc comment) must disagree with libxml2 on a good share of them, for
// each of the three reasons the corrections exist.
func TestRandomCasesReachKnownDeviations(t *testing.T) {
	r := rand.New(rand.NewPCG(20261121, 2))
	var reqs []oracleRequest
	for range 100 {
		src := randomDocument(r)
		paths := elementPaths(t, src)
		reqs = append(reqs, oracleRequest{Src: src, Path: nil, Inclusive: nil})
		for range 3 {
			reqs = append(reqs, oracleRequest{Src: src, Path: paths[r.IntN(len(paths))], Inclusive: randomPrefixList(r)})
		}
	}
	answers := libxml2Subset(t, reqs)
	differ := 0
	for i, req := range reqs {
		raw := uncorrected(t, elementAt(t, req.Src, req.Path), req.Inclusive)
		if answers[i].C14N != nil && raw != *answers[i].C14N {
			differ++
		}
	}
	t.Logf("uncorrected goxmldsig differs from libxml2 on %d of %d random cases", differ, len(reqs))
	if differ < len(reqs)/10 {
		t.Errorf("uncorrected goxmldsig differs on only %d of %d cases: the generator no longer reaches the deviations", differ, len(reqs))
	}
}

// uncorrected is Exclusive without its corrections: goxmldsig's transform on
// the same detached copy, "#default" passed through as goxmldsig would see it.
func uncorrected(t *testing.T, el *etree.Element, inclusive []string) string {
	t.Helper()
	apex, _ := detach(el, inclusive)
	if err := etreeutils.TransformExcC14n(apex, strings.Join(inclusive, " "), false); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	apex.WriteTo(&buf, &canonicalWrite)
	return buf.String()
}
