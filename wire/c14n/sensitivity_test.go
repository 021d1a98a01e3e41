package c14n_test

import (
	"bytes"
	"path/filepath"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"

	"github.com/scproxy/scproxy/internal/oracle"
)

// TestCorpusCatchesUncorrectedCanonicalizer runs goxmldsig's exclusive
// canonicalizer, without the corrections Exclusive applies, over the corpus
// files written for its known deviations from libxml2. Each must differ from
// xmllint: this shows the differential test can fail, and for the reason the
// file was written.
func TestCorpusCatchesUncorrectedCanonicalizer(t *testing.T) {
	deviations := []struct{ file, bug string }{
		{"attr-order-prefix-vs-uri.xml", "attributes sorted by local name, not namespace URI"},
		{"attr-same-local-two-ns.xml", "attributes sorted by local name, not namespace URI"},
		{"xmlns-empty-inner.xml", "spurious or misplaced xmlns=\"\""},
		{"xmlns-empty-superfluous.xml", "spurious or misplaced xmlns=\"\""},
	}
	for _, tc := range deviations {
		t.Run(tc.file, func(t *testing.T) {
			src := readFile(t, filepath.Join(corpusDir, tc.file))
			want := oracle.ExcC14N(t, src)
			raw, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(parse(t, src).Root())
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(raw, want) {
				t.Errorf("goxmldsig alone matches xmllint, so this file no longer tests %s", tc.bug)
			}
		})
	}
}
