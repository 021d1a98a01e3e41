package c14n_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/c14n"
)

// randomDocs returns n namespace-heavy documents from a fixed seed:
// prefixes bound, rebound and shadowed at random depths, default namespaces
// declared and undeclared, attributes in several namespaces sharing local
// names, and text with characters c14n escapes. SCPROXY_C14N_RANDOM sets n.
func randomDocs(t *testing.T, def int) []string {
	n := def
	if s := os.Getenv("SCPROXY_C14N_RANDOM"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]string, n)
	for i := range docs {
		var b strings.Builder
		g := docGen{r: r, b: &b}
		g.element(map[string]string{}, 0)
		docs[i] = b.String()
	}
	return docs
}

type docGen struct {
	r *rand.Rand
	b *strings.Builder
}

var (
	genPrefixes = []string{"", "a", "b", "c"}
	genURIs     = []string{"urn:x", "urn:y", "http://z.example/", "urn:a"}
	genLocals   = []string{"id", "k", "Id", "a"}
	genTexts    = []string{"t", " ", "&amp;", "&lt;", ">", "\"", "&#xD;", "\t", "\n", "ü", "<![CDATA[<&>]]>"}
	genValues   = []string{"v", " ", "&amp;", "&lt;", ">", "&quot;", "'", "&#xD;", "&#x9;", "\t", "\n", "\r\n", "ü", ""}
)

func (g *docGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *docGen) element(scope map[string]string, depth int) {
	local := make(map[string]string, len(scope))
	for k, v := range scope {
		local[k] = v
	}
	var decls []string
	for _, p := range genPrefixes {
		if g.r.IntN(4) != 0 {
			continue
		}
		uri := g.pick(genURIs)
		if p == "" && g.r.IntN(3) == 0 {
			uri = "" // undeclare the default namespace
		}
		local[p] = uri
		if p == "" {
			decls = append(decls, fmt.Sprintf(` xmlns="%s"`, uri))
		} else {
			decls = append(decls, fmt.Sprintf(` xmlns:%s="%s"`, p, uri))
		}
	}
	var bound []string
	for _, p := range genPrefixes[1:] {
		if _, ok := local[p]; ok {
			bound = append(bound, p)
		}
	}
	name := "e" + strconv.Itoa(depth)
	if len(bound) > 0 && g.r.IntN(2) == 0 {
		name = g.pick(bound) + ":" + name
	}
	g.b.WriteString("<" + name)
	for _, d := range decls {
		g.b.WriteString(d)
	}
	seen := map[string]bool{}
	for range g.r.IntN(4) {
		l := g.pick(genLocals)
		attr, key := l, "|"+l
		if len(bound) > 0 && g.r.IntN(2) == 0 {
			p := g.pick(bound)
			attr, key = p+":"+l, local[p]+"|"+l
		}
		if !seen[key] {
			seen[key] = true
			fmt.Fprintf(g.b, ` %s="%s"`, attr, g.pick(genValues)+g.pick(genValues))
		}
	}
	if depth > 4 || g.r.IntN(4) == 0 {
		g.b.WriteString("/>")
		return
	}
	g.b.WriteString(">")
	for range 1 + g.r.IntN(3) {
		if g.r.IntN(3) == 0 {
			g.b.WriteString(g.pick(genTexts))
		}
		g.element(local, depth+1)
	}
	g.b.WriteString("</" + name + ">")
}

// TestExclusiveRandomMatchesXMLLint runs whole random documents through
// both canonicalizers.
func TestExclusiveRandomMatchesXMLLint(t *testing.T) {
	for i, src := range randomDocs(t, 300) {
		want := oracle.ExcC14N(t, []byte(src))
		got, err := c14n.Exclusive(parse(t, []byte(src)).Root(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("document %d differs from xmllint:\nsrc %s\n%s", i, src, firstDifference(got, want))
		}
	}
}

// TestExclusiveRandomSubtreesMatchLXML canonicalizes random subtrees of the
// random documents with random PrefixLists through lxml.
func TestExclusiveRandomSubtreesMatchLXML(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var cases []subtreeCase
	for _, src := range randomDocs(t, 300) {
		root := parse(t, []byte(src)).Root()
		var path []int
		for el := root; len(el.ChildElements()) > 0 && r.IntN(3) != 0; {
			i := r.IntN(len(el.ChildElements()))
			path = append(path, i)
			el = el.ChildElements()[i]
		}
		var list []string
		for _, p := range genPrefixes[1:] {
			if r.IntN(3) == 0 {
				list = append(list, p)
			}
		}
		cases = append(cases, subtreeCase{src: src, path: path, inclusive: list})
	}
	reqs := make([]lxmlRequest, len(cases))
	for i, tc := range cases {
		reqs[i] = lxmlRequest{Src: tc.src, Path: tc.path, Inclusive: tc.inclusive}
	}
	want := lxmlExclusive(t, reqs)
	for i, tc := range cases {
		got, err := c14n.Exclusive(byPath(t, parse(t, []byte(tc.src)).Root(), tc.path...), tc.inclusive)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[i] {
			t.Errorf("case %d (path %v, list %q) differs from lxml:\nsrc %s\n%s", i, tc.path, tc.inclusive, tc.src, firstDifference(got, []byte(want[i])))
		}
	}
}
