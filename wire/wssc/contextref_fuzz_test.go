package wssc

import (
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseContextRef reads every SecurityTokenReference of an arbitrary
// document as a reference to a context (a RenewTarget's, a
// CancelTarget's), in both versions. Whatever the input it returns, and a
// reference it accepts is written back by ContextSTR into one that reads
// the same. Seeds are in testdata/fuzz/FuzzParseContextRef.
func FuzzParseContextRef(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{Limits: xmldoc.Limits{MaxBytes: 16 << 10, MaxElements: 500}})
		if err != nil {
			return
		}
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			if !xmldoc.Is(el, wss.NameSecurityTokenReference) {
				return
			}
			for _, v := range Versions {
				ref, err := v.ParseContextRef(el)
				if err != nil {
					continue
				}
				out := xmldoc.Serialize(v.ContextSTR(ref))
				back, err := xmldoc.Parse(out, xmldoc.Options{})
				if err != nil {
					t.Fatalf("%s: ContextSTR wrote a malformed reference: %v\n%s", v, err, out)
				}
				again, err := v.ParseContextRef(back.Root())
				if err != nil || again != ref {
					t.Fatalf("%s: %+v written as %s reads back as %+v (%v)", v, ref, out, again, err)
				}
			}
		})
	})
}
