package wsa

import (
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzRead feeds arbitrary envelopes to Read. Whatever Read accepts must
// survive being written with AddTo into a fresh envelope of the same SOAP
// version and read again unchanged; nothing may panic. Seeds are the real
// messages of testdata/vectors and the fixtures of testdata/read.
func FuzzRead(f *testing.F) {
	lim := xmldoc.Limits{MaxBytes: 64 << 10, MaxDepth: 32, MaxElements: 2000}
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{Limits: lim})
		if err != nil {
			return
		}
		root := d.Root()
		h, err := xmldoc.Optional(root, xmldoc.Name{Space: root.NamespaceURI(), Local: "Header"})
		if err != nil || h == nil {
			return
		}
		got, v, err := Read(h)
		if err != nil || v == None {
			return
		}
		fresh := parse(t, []byte(`<s:Envelope xmlns:s="`+h.NamespaceURI()+`"><s:Header/><s:Body/></s:Envelope>`))
		fh := header(t, fresh)
		if _, err := got.AddTo(fh, v); err != nil {
			t.Fatalf("AddTo of headers Read accepted: %v", err)
		}
		again, v2, err := Read(header(t, parse(t, xmldoc.Serialize(fresh.Root()))))
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if again != got || v2 != v {
			t.Fatalf("round trip changed headers:\n got %+v in %v\nwant %+v in %v", again, v2, got, v)
		}
	})
}
