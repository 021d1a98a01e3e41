package c14n

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/beevik/etree"
)

// TestWriteMatchesEtree: the fast writer writes what etree's WriteTo
// writes under canonicalWrite, byte for byte, on random documents
// transformed as Exclusive transforms them and on text and values that
// need every kind of escaping, CDATA and processing instructions.
func TestWriteMatchesEtree(t *testing.T) {
	check := func(el *etree.Element) {
		t.Helper()
		var got, want bytes.Buffer
		write(&got, el)
		el.WriteTo(&want, &canonicalWrite)
		if got.String() != want.String() {
			t.Fatalf("write differs from etree:\n got  %q\n want %q", got.String(), want.String())
		}
	}
	r := rand.New(rand.NewPCG(16, 8))
	for range 200 {
		root := elementAt(t, randomDocument(r), nil)
		apex, walked := detach(root, nil)
		if err := transform(apex, walked, "", true); err != nil {
			t.Fatal(err)
		}
		fix(apex, walked.defaults, false)
		check(apex)
	}
	awkward := []string{"", "plain", "a&b", "a<b", "a>b", `a"b`, "a'b", "a\tb", "a\nb", "a\rb", "\x01", "\x7f",
		"ü", "日本", "\xff", "\uFFFD", "]]>", "tab\tand\nnewline"}
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
		check(el)
	}
}
