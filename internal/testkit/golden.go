package testkit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ with what the tests produce")

// Golden compares got with the golden file testdata/<test name>.golden of
// the package under test (subtests' slashes become directories). With
// -update it writes got there instead. The kit defines the -update flag
// for every test binary that imports it.
func Golden(t testing.TB, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\n got: %s\nwant: %s", path, abbreviate(got), abbreviate(want))
	}
}

// abbreviate keeps a failure message readable for large documents.
func abbreviate(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return strings.TrimSpace(s)
}
