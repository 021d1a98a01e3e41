package c14n_test

import (
	"path/filepath"
	"testing"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

func benchExclusive(b *testing.B, src []byte, path []int, inclusive []string) {
	el := byPath(b, parse(b, src).Root(), path...)
	out, err := c14n.Exclusive(el, inclusive)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c14n.Exclusive(el, inclusive); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExclusiveLargeBody: the 4000-element, >100 KB body in context.
func BenchmarkExclusiveLargeBody(b *testing.B) {
	benchExclusive(b, largeDocument(4000), []int{0}, nil)
}

// BenchmarkExclusiveTimestamp: the everyday case, a WCF Timestamp.
func BenchmarkExclusiveTimestamp(b *testing.B) {
	src := readFile(b, filepath.Join(vectorsDir, "corewcf", "app-request.xml"))
	ts := xmldoc.WithAttr(parse(b, src).Root(), xmldoc.Name{Space: nsWSU, Local: "Id"}, "_0")
	if len(ts) != 1 {
		b.Fatal("no Timestamp")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c14n.Exclusive(ts[0], nil); err != nil {
			b.Fatal(err)
		}
	}
}
