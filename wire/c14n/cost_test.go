package c14n_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
)

// bindingsDocument nests depth elements that each declare decls prefixes
// (all within xmldoc.DefaultLimits at depth 127 and 32 declarations), then
// puts n empty siblings at the bottom, where every binding is in scope.
func bindingsDocument(depth, decls, n int) []byte {
	var b strings.Builder
	for d := range depth {
		b.WriteString("<e")
		for i := range decls {
			fmt.Fprintf(&b, ` xmlns:p%d_%d="urn:%d:%d"`, d, i, d, i)
		}
		b.WriteString(">")
	}
	b.WriteString(strings.Repeat("<a/>", n))
	b.WriteString(strings.Repeat("</e>", depth))
	return []byte(b.String())
}

// usedBindingsDocument is bindingsDocument with every binding kept alive:
// before the n siblings, elements of up to 64 attributes (the default
// MaxAttributes) use each declared prefix once, so no declaration is unused
// and pruning unused declarations cannot shrink the scope.
func usedBindingsDocument(depth, decls, n int) []byte {
	var b strings.Builder
	for d := range depth {
		b.WriteString("<e")
		for i := range decls {
			fmt.Fprintf(&b, ` xmlns:p%d_%d="urn:%d:%d"`, d, i, d, i)
		}
		b.WriteString(">")
	}
	k := 0
	for d := range depth {
		for i := range decls {
			if k%64 == 0 {
				if k > 0 {
					b.WriteString("/>")
				}
				b.WriteString("<u")
			}
			fmt.Fprintf(&b, ` p%d_%d:a=""`, d, i)
			k++
		}
	}
	b.WriteString("/>")
	b.WriteString(strings.Repeat("<a/>", n))
	b.WriteString(strings.Repeat("</e>", depth))
	return []byte(b.String())
}

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestExclusiveCostIsLinear bounds the memory Exclusive allocates per input
// byte. goxmldsig's TransformExcC14n copies every in-scope binding for every
// element (NSContext.SubContext), so a document within the default parse
// limits, with 4,064 bindings in scope (127 levels of 32 declarations) all
// used, and 100,000 elements under them, would cost tens of GB. Exclusive
// must either canonicalize within the per-byte rate or refuse with a
// *c14n.BudgetError, cheaply. A document with ordinary namespaces (the
// 4000-element body) must be canonicalized. The rate is a budget
// (testkit.Budget): its goal is a quarter of perByte.
func TestExclusiveCostIsLinear(t *testing.T) {
	const perByte = 200 // bytes allocated per input byte; ordinary documents need about 40
	cases := []struct {
		name      string
		src       []byte
		mayRefuse bool
	}{
		{"4000-element body", largeDocument(4000), false},
		{"1024 bindings in scope over 500 elements", bindingsDocument(64, 16, 500), false},
		{"1024 bindings all used, in scope over 500 elements", usedBindingsDocument(64, 16, 500), true},
		{"4064 bindings all used, in scope over 1000 elements", usedBindingsDocument(127, 32, 1000), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := parse(t, tc.src).Root()
			var err error
			n := allocatedBy(func() { _, err = c14n.Exclusive(root, nil) })
			var be *c14n.BudgetError
			if err != nil && !(tc.mayRefuse && errors.As(err, &be)) {
				t.Fatal(err)
			}
			rate := float64(n) / float64(len(tc.src))
			t.Logf("%d-byte input: %d bytes allocated (%.0f per input byte)", len(tc.src), n, rate)
			testkit.Budget(t, "bytes allocated", n, uint64(perByte*len(tc.src)/testkit.BudgetMultiple))
		})
	}
}

// BenchmarkExclusiveManyBindings is the hostile shape at the default limits
// (4,064 bindings, all used), scaled down to 1,000 siblings.
func BenchmarkExclusiveManyBindings(b *testing.B) {
	root := parse(b, usedBindingsDocument(127, 32, 1000)).Root()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c14n.Exclusive(root, nil); err == nil {
			b.Fatal("hostile bindings were canonicalized")
		}
	}
}
