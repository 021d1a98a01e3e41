package xmldoc_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// hostile documents (the hardening corpus's shapes): they must be rejected,
// and cheaply.
var (
	deep100k  = []byte(nested(100_000))
	attrs100k = []byte(withAttrs(100_000))
	decls100k = []byte(withDecls(100_000))
	wide100k  = []byte(siblings(100_001))
)

// allocated returns the bytes allocated and the time taken by one call.
func allocated(f func()) (uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took
}

// TestParseFailsFast bounds the memory spent on rejecting hostile
// documents. Depth is checked as each start tag arrives, so a 100,000-deep
// document costs what its first 129 elements cost. Attributes are counted
// in the raw start tag before encoding/xml decodes it, so 100,000
// attributes (or namespace declarations) cost what the first 65 cost;
// counted after decoding they cost about 29 bytes per input byte.
// 100,000 elements are within MaxElements and so are built before the
// 100,001st is refused. The bounds guard against regressions of these
// proportions; they are budgets (testkit.Budget) whose goal is a quarter
// of the bound.
func TestParseFailsFast(t *testing.T) {
	cases := []struct {
		name     string
		src      []byte
		limit    string
		maxBytes uint64
	}{
		{"100000 deep", deep100k, "MaxDepth", 256 << 10},
		{"100000 attributes", attrs100k, "MaxAttributes", 64 << 10},
		{"100000 namespace declarations", decls100k, "MaxAttributes", 64 << 10},
		{"100001 elements", wide100k, "MaxElements", 100 * uint64(len(wide100k))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n, took := allocated(func() { _, err = xmldoc.Parse(tc.src, xmldoc.Options{}) })
			var le *xmldoc.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want %s", err, tc.limit)
			}
			t.Logf("%d-byte input rejected in %v after allocating %d bytes", len(tc.src), took, n)
			testkit.Budget(t, "bytes allocated to reject it", n, tc.maxBytes/testkit.BudgetMultiple)
		})
	}
}

// BenchmarkParseDepthScaling parses documents 8,000 and 32,000 deep with
// MaxDepth raised: ns/op should grow about 4 times, not 16 (a quadratic
// prefix lookup was fixed). Compared with benchstat rather than asserted,
// because timings on a shared machine are noisy.
func BenchmarkParseDepthScaling(b *testing.B) {
	for _, depth := range []int{8_000, 32_000} {
		src := []byte(nested(depth))
		opts := xmldoc.Options{Limits: xmldoc.Limits{MaxDepth: depth, MaxElements: depth}}
		b.Run(strconv.Itoa(depth), func(b *testing.B) { benchParse(b, src, opts) })
	}
}

func benchParse(b *testing.B, src []byte, opts xmldoc.Options) {
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = xmldoc.Parse(src, opts)
	}
}

func BenchmarkParseReject100kDeep(b *testing.B)  { benchParse(b, deep100k, xmldoc.Options{}) }
func BenchmarkParseReject100kAttrs(b *testing.B) { benchParse(b, attrs100k, xmldoc.Options{}) }
func BenchmarkParseReject100kDecls(b *testing.B) { benchParse(b, decls100k, xmldoc.Options{}) }
func BenchmarkParseReject100kElems(b *testing.B) { benchParse(b, wide100k, xmldoc.Options{}) }

// BenchmarkParseVector is the baseline: a real WCF message.
func BenchmarkParseVector(b *testing.B) {
	src := []byte(mustReadString(b, vectors+"/corewcf/issue-response.pretty.xml"))
	benchParse(b, src, xmldoc.Options{KeepSpans: true})
}

// BenchmarkParseDeep20k shows the cost of depth when MaxDepth is raised.
func BenchmarkParseDeep20k(b *testing.B) {
	benchParse(b, []byte(nested(20_000)), xmldoc.Options{Limits: xmldoc.Limits{MaxDepth: 20_000, MaxElements: 20_000}})
}

func mustReadString(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
