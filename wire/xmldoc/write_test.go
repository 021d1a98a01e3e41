package xmldoc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestWriteMatchesEtree: Write writes what etree's WriteTo writes under
// the same settings, byte for byte, on every vector and on text and
// values that need every kind of escaping, CDATA, processing
// instructions, comments and empty elements.
func TestWriteMatchesEtree(t *testing.T) {
	check := func(name string, el *etree.Element) {
		t.Helper()
		for _, endTags := range []bool{false, true} {
			s := writeSettings
			s.CanonicalEndTags = endTags
			var got, want bytes.Buffer
			Write(&got, el, endTags)
			el.WriteTo(&want, &s)
			if got.String() != want.String() {
				t.Fatalf("%s (end tags %v): Write differs from etree:\n got  %q\n want %q", name, endTags, got.String(), want.String())
			}
		}
	}
	paths, err := filepath.Glob("../../testdata/vectors/*/*.xml")
	more, _ := filepath.Glob("../../testdata/vectors/*/*/*.xml")
	paths = append(paths, more...)
	if err != nil || len(paths) < 10 {
		t.Fatalf("vectors: %d found, %v", len(paths), err)
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(src, Options{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		check(p, d.Root())
	}
	awkward := []string{"", "plain", "a&b", "a<b", "a>b", `a"b`, "a'b", "a\tb", "a\nb", "a\rb", "\x01", "\x7f",
		"ü", "日本", "\xff", "\uFFFD", "]]>", "tab\tand\nnewline", strings.Repeat("x", 100)}
	for _, s := range awkward {
		el := etree.NewElement("e")
		el.Space = "p"
		el.CreateAttr("p:a", s)
		el.CreateAttr("b", s)
		el.CreateText(s)
		el.CreateElement("empty")
		el.AddChild(etree.NewCData(s))
		el.CreateProcInst("pi", s)
		el.CreateComment(s)
		check("awkward "+s, el)
	}
}
