package dsig

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Benchmarks report the cost of signing and verifying next to a baseline
// measured in the same run: one encoding/xml RawToken pass over the same
// bytes, the least any XML-aware processing of the message can cost.
// Compare with benchstat; the ratios, not the absolute numbers, matter on
// a shared machine.

var benchSizes = []int{1 << 10, 10 << 10, 100 << 10}

// benchEnvelope returns an unsigned SOAP 1.2 message whose body holds
// about size bytes of order lines.
func benchEnvelope(size int) []byte {
	var items strings.Builder
	for i := 0; items.Len() < size; i++ {
		fmt.Fprintf(&items, `<Line n="%d"><Sku>SKU-%06d</Sku><Qty>%d</Qty></Line>`, i, i, i%7+1)
	}
	return []byte(strings.Replace(bodySigned, `<Item>1</Item>`, items.String(), 1))
}

func rawTokenPass(b *testing.B, msg []byte) {
	d := xml.NewDecoder(bytes.NewReader(msg))
	for {
		if _, err := d.RawToken(); err == io.EOF {
			return
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

func signParts(b *testing.B, msg []byte, key SigningKey, withBody bool) []byte {
	d, err := xmldoc.Parse(msg, xmldoc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	root := d.Root()
	sec := root.FindElement("./s:Header/o:Security")
	refs := []Reference{{Element: sec.ChildElements()[0]}}
	if withBody {
		refs = append(refs, Reference{Element: root.FindElement("./s:Body")})
	}
	s := Signer{Key: key}
	if _, err := s.Sign(sec, refs...); err != nil {
		b.Fatal(err)
	}
	return xmldoc.Serialize(root)
}

func BenchmarkSign(b *testing.B) {
	key, _ := HMACKey(HMACSHA1, []byte("0123456789abcdef0123456789abcdef"))
	for _, size := range benchSizes {
		msg := benchEnvelope(size)
		b.Run(fmt.Sprintf("baseline-rawtoken/%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				rawTokenPass(b, msg)
			}
		})
		b.Run(fmt.Sprintf("timestamp-only/%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				signParts(b, msg, key, false)
			}
		})
		b.Run(fmt.Sprintf("timestamp+body/%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				signParts(b, msg, key, true)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	key, _ := HMACKey(HMACSHA1, raw)
	resolve := func(_ *etree.Element, m string) (VerifyingKey, error) { return HMACKey(m, raw) }
	for _, size := range benchSizes {
		signed := signParts(b, benchEnvelope(size), key, true)
		b.Run(fmt.Sprintf("baseline-rawtoken/%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				rawTokenPass(b, signed)
			}
		})
		b.Run(fmt.Sprintf("timestamp+body/%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				d, err := xmldoc.Parse(signed, xmldoc.Options{})
				if err != nil {
					b.Fatal(err)
				}
				sig := d.Root().FindElement("./s:Header/o:Security/Signature")
				if _, err := Verify(d.Root(), sig, resolve, DefaultPolicy); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
