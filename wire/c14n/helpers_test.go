package c14n_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// corpusDir holds the differential corpus (see its README.md).
const corpusDir = "../../testdata/c14n"

// vectorsDir holds real WCF/WSS4J messages.
const vectorsDir = "../../testdata/vectors"

func parse(t testing.TB, src []byte) *xmldoc.Doc {
	t.Helper()
	d, err := xmldoc.Parse(src, xmldoc.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// byPath walks from root through child elements by index (comments, text
// and processing instructions do not count), the same addressing the lxml
// oracle script uses.
func byPath(t testing.TB, root *etree.Element, path ...int) *etree.Element {
	t.Helper()
	el := root
	for _, i := range path {
		kids := el.ChildElements()
		if i >= len(kids) {
			t.Fatalf("path %v: <%s> has %d child elements", path, el.FullTag(), len(kids))
		}
		el = kids[i]
	}
	return el
}

// serializeDoc writes the whole document as etree stores it, so that any
// change Exclusive makes to the tree (attribute order, added declarations,
// dropped nodes) shows up as a byte difference.
func serializeDoc(t testing.TB, d *xmldoc.Doc) string {
	t.Helper()
	s, err := d.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRead(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func pathName(p []int) string {
	s := " at /"
	for _, i := range p {
		s += strconv.Itoa(i) + "/"
	}
	return s
}

func listName(l []string) string {
	if l == nil {
		return " no list"
	}
	return " list " + strings.Join(l, ",")
}

// validPaths drops cases whose path does not exist in their document, so
// the vector cases can share one set of paths.
func validPaths(cases []subtreeCase) []subtreeCase {
	var out []subtreeCase
	for _, tc := range cases {
		d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
		if err != nil {
			panic(err)
		}
		el := d.Root()
		for _, i := range tc.path {
			kids := el.ChildElements()
			if i >= len(kids) {
				el = nil
				break
			}
			el = kids[i]
		}
		if el != nil {
			out = append(out, tc)
		}
	}
	return out
}
