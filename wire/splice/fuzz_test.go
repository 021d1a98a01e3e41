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
// version, and a header block added to it is the Header's last child
// (whatever comments the envelope holds). Seeds are in
// testdata/fuzz/FuzzRead: byte order marks, UTF-16, processing
// instructions and comments that imitate placeholders among them.
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
			checkBlockLast(t, m)
		}
	})
}

// fuzzBlock is the header block FuzzRead adds.
var fuzzBlock = xmldoc.Name{Space: "urn:scproxy:fuzz", Local: "Block"}

// checkBlockLast adds a header block to m and checks that it comes out as
// the Header's last child, once, with the Body unchanged.
func checkBlockLast(t *testing.T, m *splice.Message) {
	t.Helper()
	before := bodyOf(t, m.Bytes(nil))
	out := m.BytesWith(nil, []byte(`<f:Block xmlns:f="urn:scproxy:fuzz"/>`))
	env, err := soap.Parse(out, xmldoc.Limits{})
	if err != nil {
		t.Fatalf("output with a block does not parse: %v\nout: %q", err, out)
	}
	kids := env.Header.ChildElements()
	if len(kids) == 0 || xmldoc.NameOf(kids[len(kids)-1]) != fuzzBlock || bytes.Count(out, []byte("urn:scproxy:fuzz")) != 1 {
		t.Fatalf("the block is not the Header's last child, once:\n%q", out)
	}
	if got := bodyOf(t, out); !bytes.Equal(got, before) {
		t.Fatalf("body changed by the block:\n got %q\nwant %q", got, before)
	}
}
