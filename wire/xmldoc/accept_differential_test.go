package xmldoc_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// acceptScript asks libxml2 whether documents are namespace-well-formed and
// for their exclusive canonical form (see the script's header).
const acceptScript = "testdata/libxml2-accept.py"

type acceptVerdict struct {
	OK     bool     `json:"ok"`
	Errors []string `json:"errors"`
	C14N   *string  `json:"c14n"`
}

// libxml2Accepts runs the documents through libxml2 in one python3 process,
// skipping outside CI when python3 is missing.
func libxml2Accepts(t *testing.T, docs []string) []acceptVerdict {
	t.Helper()
	var verdicts []acceptVerdict
	oracle.PythonJSON(t, acceptScript, docs, &verdicts)
	if len(verdicts) != len(docs) {
		t.Fatalf("libxml2 oracle answered %d of %d documents", len(verdicts), len(docs))
	}
	return verdicts
}

// TestAcceptOracleSeesNamespaceErrors pins the oracle: libxml2 reports
// namespace errors without failing the parse, and the script must count
// them, or the differential test below would call every malformed QName a
// disagreement in libxml2's favour.
func TestAcceptOracleSeesNamespaceErrors(t *testing.T) {
	cases := []struct {
		src string
		ok  bool
	}{
		{`<r xmlns:p="urn:p"><p:a/></r>`, true},
		{`<p:r/>`, false},
		{`<r xmlns:="urn:x"/>`, false},
		{`<r a="1"b="2"/>`, false},
		{`<r><!--c--><a/></r>`, true},
	}
	docs := make([]string, len(cases))
	for i, tc := range cases {
		docs[i] = tc.src
	}
	for i, v := range libxml2Accepts(t, docs) {
		if v.OK != cases[i].ok {
			t.Errorf("%s: libxml2 ok=%v (errors %q), want %v", cases[i].src, v.OK, v.Errors, cases[i].ok)
		}
	}
}

// acceptMutantCount is how many mutated documents the differential test
// tries; SCPROXY_XMLDOC_MUTANTS=N searches longer.
func acceptMutantCount(t *testing.T) int {
	if s := os.Getenv("SCPROXY_XMLDOC_MUTANTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SCPROXY_XMLDOC_MUTANTS: %v", err)
		}
		return n
	}
	if testing.Short() {
		return 500
	}
	return 4000
}

// TestParseAgreesWithLibxml2 mutates the corpus documents (the c14n corpus
// and the vectors) byte-wise, towards the constructs that separate parsers
// (colons in names, missing white space, references, CDATA ends, PIs, byte
// order marks, declarations), and requires for every mutant that Parse and
// libxml2 agree on whether it is namespace-well-formed XML, and, where both
// accept it, that Exclusive equals libxml2's canonical form. Parse refuses
// some documents on purpose (DTDs, other encodings, XML 1.1); mutants that
// contain those are not generated.
func TestParseAgreesWithLibxml2(t *testing.T) {
	var seeds []string
	for _, f := range corpusFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 4096 {
			seeds = append(seeds, string(b))
		}
	}
	r := rand.New(rand.NewPCG(20261121, 7))
	n := acceptMutantCount(t)
	docs := make([]string, 0, n)
	for len(docs) < n {
		if m := acceptMutate(r, seeds[r.IntN(len(seeds))]); acceptComparable(m) {
			docs = append(docs, m)
		}
	}
	verdicts := libxml2Accepts(t, docs)
	classes := map[string][]string{}
	for i, src := range docs {
		if class := acceptCompare(src, verdicts[i]); class != "" {
			classes[class] = append(classes[class], src)
		}
	}
	for _, class := range slices.Sorted(maps.Keys(classes)) {
		examples := classes[class]
		slices.SortFunc(examples, func(a, b string) int { return len(a) - len(b) })
		t.Errorf("%s: %d of %d mutants, shortest %q", class, len(examples), len(docs), examples[0])
	}
}

// acceptCompare returns "" when Parse and libxml2 agree on src, else a
// description of the disagreement.
func acceptCompare(src string, v acceptVerdict) string {
	d, err := xmldoc.Parse([]byte(src), xmldoc.Options{})
	var le *xmldoc.LimitError
	switch {
	case errors.As(err, &le):
		return ""
	case err != nil && v.OK:
		return fmt.Sprintf("Parse rejects (%s), libxml2 accepts", firstWords(err.Error()))
	case err == nil && !v.OK && !onlyURIErrors(v.Errors):
		return fmt.Sprintf("Parse accepts, libxml2 rejects (%s)", firstWords(strings.Join(v.Errors, "; ")))
	case err != nil || !v.OK || v.C14N == nil:
		return "" // both reject, or libxml2 refuses to canonicalize (relative namespace URI)
	case escapedNamespaceName(d):
		return "" // libxml2 writes namespace names unescaped; wire/c14n tests that case
	}
	got, err := c14n.Exclusive(d.Root(), nil)
	if err != nil {
		return "Exclusive fails on a document libxml2 canonicalizes"
	}
	if string(got) != *v.C14N {
		return "canonical forms differ"
	}
	return ""
}

// escapedNamespaceName reports a namespace declaration whose value C14N
// escapes (C14N 1.0 §2.3 treats namespace nodes like attributes; libxml2
// alone does not escape them).
func escapedNamespaceName(d *xmldoc.Doc) bool {
	found := false
	xmldoc.Walk(d.Root(), func(e *etree.Element) {
		for _, a := range e.Attr {
			if (a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns") && strings.ContainsAny(a.Value, "&<\"\t\n\r") {
				found = true
			}
		}
	})
	return found
}

// onlyURIErrors: libxml2 calls a namespace name that is no valid URI
// reference an error, but "Namespaces in XML" makes no well-formedness
// constraint of it and .NET and Java accept such names, so Parse may too.
func onlyURIErrors(errs []string) bool {
	for _, e := range errs {
		if !strings.HasSuffix(e, "is not a valid URI") {
			return false
		}
	}
	return true
}

// firstWords keeps an error message's gist so that similar failures group.
func firstWords(s string) string {
	if i := strings.IndexAny(s, "0123456789\"'<"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// acceptComparable leaves out what Parse refuses by design or the oracle
// cannot carry: DTDs, non-UTF-8 encodings, XML 1.1 and invalid UTF-8.
func acceptComparable(s string) bool {
	if !utf8.ValidString(s) || strings.Contains(s, "encoding") || strings.Contains(s, "version") {
		return false
	}
	for i := strings.Index(s, "<!"); i >= 0; {
		rest := s[i:]
		if !strings.HasPrefix(rest, "<!--") && !strings.HasPrefix(rest, "<![CDATA[") {
			return false
		}
		j := strings.Index(s[i+2:], "<!")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return true
}

var acceptPieces = []string{
	"<", ">", "/", ":", "=", `"`, "'", " ", "\t", "\r\n", "&", "&#", ";", "x", "0", "-", ".", "_",
	"xmlns", "xmlns:", "xmlns=\"\"", "a:", ":a", " p:a=\"1\"", " a=\"1\"", "]]>", "]]", "<?", "?>", "<?pi x?>",
	"<!--", "-->", "<![CDATA[", "&#xD800;", "&#xD;", "&#x9;", "&amp;", "&lt;", "<?xml ?>",
	"<a/>", "</a>", "ü", "\u00b7", "\u0300",
}

// bom is inserted only at the start: elsewhere U+FEFF is a name character
// to XML 1.0 fifth edition (libxml2) but not to encoding/xml, a difference
// in names no SOAP stack uses.
const bom = "\xEF\xBB\xBF"

// acceptMutate applies one to three insertions, deletions or duplications,
// and sometimes prepends a byte order mark.
func acceptMutate(r *rand.Rand, s string) string {
	b := []byte(s)
	if r.IntN(20) == 0 {
		b = append([]byte(bom), b...)
	}
	for range 1 + r.IntN(3) {
		i := r.IntN(len(b) + 1)
		switch r.IntN(3) {
		case 0:
			b = slices.Insert(b, i, []byte(acceptPieces[r.IntN(len(acceptPieces))])...)
		case 1:
			j := min(len(b), i+1+r.IntN(4))
			b = slices.Delete(b, i, j)
		default:
			j := min(len(b), i+1+r.IntN(20))
			k := r.IntN(len(b) + 1)
			b = slices.Insert(b, k, slices.Clone(b[i:j])...)
		}
	}
	return string(b)
}
