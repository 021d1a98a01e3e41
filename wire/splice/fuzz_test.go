package splice_test

import (
	"bytes"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzRead: whatever Read accepts and a full parse also accepts comes out
// as a parseable envelope with the Body's bytes unchanged, in either SOAP
// version. Seeds are in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := splice.Read(in, splice.Options{})
		if err != nil {
			return
		}
		if _, err := soap.Parse(in, xmldoc.Limits{}); err != nil {
			return // the Body is not Read's to check
		}
		want := bodyOf(t, in)
		for _, v := range soap.Versions {
			m, err = splice.Read(in, splice.Options{})
			if err != nil {
				t.Fatalf("second read: %v", err)
			}
			if err := m.Convert(v); err != nil {
				continue
			}
			out := m.Bytes(nil)
			env, err := soap.Parse(out, xmldoc.Limits{})
			if err != nil {
				t.Fatalf("output to %v does not parse: %v\n in: %q\nout: %q", v, err, in, out)
			}
			if env.Version != v {
				t.Fatalf("version %v, want %v", env.Version, v)
			}
			if got := bodyOf(t, out); !bytes.Equal(got, want) {
				t.Fatalf("body changed:\n got %q\nwant %q", got, want)
			}
		}
	})
}
