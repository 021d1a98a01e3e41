package c14n_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/c14n"
)

// differentialCase is one whole document canonicalized both by Exclusive on
// its root element and by xmllint --exc-c14n.
type differentialCase struct {
	name string
	src  []byte
}

func corpus(t *testing.T) []differentialCase {
	t.Helper()
	var cases []differentialCase
	globs := []string{
		filepath.Join(corpusDir, "*.xml"),
		filepath.Join(vectorsDir, "corewcf", "*.xml"),
		filepath.Join(vectorsDir, "wss4j", "*.xml"),
		filepath.Join(vectorsDir, "mono", "*", "*.xml"),
	}
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(filepath.Join(corpusDir, ".."), f)
			cases = append(cases, differentialCase{name: rel, src: readFile(t, f)})
		}
	}
	if len(cases) < 30 {
		t.Fatalf("corpus has %d documents; expected the c14n corpus and the vectors", len(cases))
	}
	return append(cases,
		differentialCase{name: "generated/large-4000-elements", src: largeDocument(4000)},
		differentialCase{name: "generated/deep-100", src: deepDocument(100)},
	)
}

// largeDocument builds a SOAP-like envelope whose body holds n elements and
// is well over 100 KB, mixing default-namespace changes, prefixed
// attributes and escapes so that every part of the canonicalizer runs at
// scale (goxmldsig's own detach refuses subtrees over 1000 elements).
func largeDocument(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<s:Envelope xmlns:s="urn:soap" xmlns:u="urn:utility" xmlns:z="urn:a-first" xmlns:unused="urn:unused">`)
	b.WriteString(`<s:Body u:Id="body"><List xmlns="urn:list">`)
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, `<Item u:Id="i%d" z:k="%d" n="%d">value &amp; &lt;%d&gt; ü</Item>`, i, i, i, i)
		case 1:
			fmt.Fprintf(&b, `<u:Ref xmlns="" z:k="%d" u:Id="r%d"><plain/></u:Ref>`, i, i)
		case 2:
			fmt.Fprintf(&b, `<Other xmlns="urn:other" xmlns:z="urn:z-rebound" z:a="&#x9;%d" b="x&#xD;">  %d  </Other>`, i, i)
		default:
			fmt.Fprintf(&b, "<Item\n  a=\"line\nbreak\" xml:lang=\"en\"><![CDATA[<%d>]]></Item>", i)
		}
	}
	b.WriteString(`</List></s:Body></s:Envelope>`)
	return b.Bytes()
}

// deepDocument nests n elements, alternating default namespaces.
func deepDocument(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		if i%3 == 0 {
			fmt.Fprintf(&b, `<e xmlns="urn:d%d">`, i%2)
		} else {
			fmt.Fprintf(&b, `<p:e xmlns:p="urn:p" a="%d">`, i)
		}
	}
	for i := n - 1; i >= 0; i-- {
		if i%3 == 0 {
			b.WriteString(`</e>`)
		} else {
			b.WriteString(`</p:e>`)
		}
	}
	return b.Bytes()
}

func TestLargeDocumentIsLarge(t *testing.T) {
	doc := largeDocument(4000)
	if len(doc) < 100_000 {
		t.Fatalf("generated document is %d bytes, want at least 100 KB", len(doc))
	}
	d := parse(t, doc)
	if n := len(d.Root().FindElements("//*")); n < 4000 {
		t.Fatalf("generated document has %d elements, want at least 4000", n)
	}
}

// TestExclusiveMatchesXMLLint is the differential test: for every document
// of the corpus, Exclusive on the root element must equal libxml2's
// exclusive canonical form of the document, byte for byte.
func TestExclusiveMatchesXMLLint(t *testing.T) {
	for _, tc := range corpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := oracle.ExcC14N(t, tc.src)
			got, err := c14n.Exclusive(parse(t, tc.src).Root(), nil)
			if err != nil {
				t.Fatalf("Exclusive: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from xmllint --exc-c14n:\n%s", firstDifference(got, want))
			}
		})
	}
}

// TestExclusiveLargeSubtree canonicalizes the 4000-element body as a subtree
// in context and checks it against xmllint's canonical form of a document
// whose root is that body with the envelope's bindings declared on it:
// the two are the same node-set under exclusive c14n.
func TestExclusiveLargeSubtree(t *testing.T) {
	src := largeDocument(4000)
	body := byPath(t, parse(t, src).Root(), 0)
	got, err := c14n.Exclusive(body, nil)
	if err != nil {
		t.Fatalf("Exclusive: %v", err)
	}
	standalone := bytes.Replace(src[bytes.Index(src, []byte("<s:Body")):bytes.Index(src, []byte("</s:Envelope>"))],
		[]byte("<s:Body"), []byte(`<s:Body xmlns:s="urn:soap" xmlns:u="urn:utility" xmlns:z="urn:a-first" xmlns:unused="urn:unused"`), 1)
	want := oracle.ExcC14N(t, standalone)
	if !bytes.Equal(got, want) {
		t.Errorf("body subtree differs from xmllint:\n%s", firstDifference(got, want))
	}
}

var commentRE = regexp.MustCompile(`<!--[^-]*-->`)

// TestExclusiveDropsComments checks the "without comments" half of the
// algorithm: xmllint keeps comments, so the oracle sees the document with
// its (simple) comments removed from the input.
func TestExclusiveDropsComments(t *testing.T) {
	cases := []struct{ name, src string }{
		{"between elements", `<r><!-- one --><a/><!--two--></r>`},
		{"inside text", `<r>be<!-- x -->fore<a>x<!--y-->y</a></r>`},
		{"in a subtree with namespaces", `<p:r xmlns:p="urn:p"><!--c--><p:a xmlns="urn:d"><!--d--><b/></p:a></p:r>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := oracle.ExcC14N(t, commentRE.ReplaceAll([]byte(tc.src), nil))
			if bytes.Contains(want, []byte("<!--")) {
				t.Fatal("test bug: comment left in oracle input")
			}
			got, err := c14n.Exclusive(parse(t, []byte(tc.src)).Root(), nil)
			if err != nil {
				t.Fatalf("Exclusive: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// firstDifference shows both outputs around the first differing byte, which
// is what matters in a 100 KB document.
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-120)
	clip := func(b []byte) string {
		return strings.ReplaceAll(string(b[lo:min(len(b), i+120)]), "\n", `\n`)
	}
	return fmt.Sprintf("first difference at byte %d (got %d bytes, want %d)\n got: …%s…\nwant: …%s…", i, len(got), len(want), clip(got), clip(want))
}
