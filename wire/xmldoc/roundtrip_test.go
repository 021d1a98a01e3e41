package xmldoc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// corpusFiles are the c14n differential corpus and the vectors: documents
// chosen for their awkward namespaces, whitespace and escapes.
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	for _, g := range []string{"../../testdata/c14n/*.xml", vectors + "/*/*.xml", vectors + "/mono/*/*.xml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 30 {
		tb.Fatalf("only %d corpus files", len(files))
	}
	return files
}

// roundTrip checks that what Serialize writes parses back to a tree with
// the same exclusive canonical form: nothing the signature covers may
// change when scproxy re-emits a document it parsed.
func roundTrip(t *testing.T, src []byte) {
	d, err := xmldoc.Parse(src, xmldoc.Options{})
	if err != nil {
		return
	}
	want, err := c14n.Exclusive(d.Root(), nil)
	if err != nil {
		t.Fatalf("Exclusive of a parsed document: %v", err)
	}
	out := xmldoc.Serialize(d.Root())
	again, err := xmldoc.Parse(out, xmldoc.Options{})
	if err != nil {
		t.Fatalf("Serialize wrote a document Parse rejects: %v\ninput  %q\noutput %q", err, src, out)
	}
	got, err := c14n.Exclusive(again.Root(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical form changed by Serialize:\ninput  %q\nbefore %q\nafter  %q", src, want, got)
	}
}

func TestSerializeRoundTripCorpus(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := xmldoc.Parse(src, xmldoc.Options{}); err != nil {
				t.Fatalf("corpus document rejected: %v", err)
			}
			roundTrip(t, src)
		})
	}
}

// FuzzParseRoundTrip: Parse never panics, and any document it accepts
// survives Serialize with its canonical form intact.
func FuzzParseRoundTrip(f *testing.F) {
	for _, file := range corpusFiles(f) {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(src) < 4096 {
			f.Add(src)
		}
	}
	f.Add([]byte(`<r xmlns="urn:d"><c xmlns:="urn:x"><e/></c></r>`))
	f.Add([]byte("<r a=\"]]>\tx\"/>"))
	f.Fuzz(func(t *testing.T, src []byte) {
		roundTrip(t, src)
	})
}
