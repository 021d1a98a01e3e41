package splice_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
)

// benchSizes are the message sizes of the performance harness.
var benchSizes = []int{1 << 10, 10 << 10, 100 << 10}

// benchMessage is a SOAP 1.1 request with WS-Addressing headers, as a
// WCF client sends it, whose Body holds about size bytes.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`<s:Envelope xmlns:s="` + ns11 + `" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>` +
		`<a:Action s:mustUnderstand="1">http://tempuri.org/IService/Process</a:Action>` +
		`<a:MessageID>urn:uuid:6a1e2c8e-0c35-4a4e-9d2f-7bb3f0b4f3a1</a:MessageID>` +
		`<a:To s:mustUnderstand="1">http://127.0.0.1:8780/</a:To></s:Header><s:Body><Process xmlns="http://tempuri.org/">`)
	for i := 0; b.Len() < size-60; i++ {
		fmt.Fprintf(&b, `<item n="%d">value %d</item>`, i, i)
	}
	b.WriteString(`</Process></s:Body></s:Envelope>`)
	return b.Bytes()
}

// benchBlock stands for a Security header of the SC-over-TLS profile.
var benchBlock = bytes.Repeat([]byte("x"), 1200)

// BenchmarkSplice is the proxy's per-message envelope work: read up to the
// Body, then write the header with a block added around the unread Body
// (op=splice), and the same with the SOAP version changed first
// (op=convert). The Body is never tokenized, so the cost above the copy
// should not grow with size.
func BenchmarkSplice(b *testing.B) {
	for _, op := range []string{"splice", "convert"} {
		for _, size := range benchSizes {
			src := benchMessage(size)
			b.Run(fmt.Sprintf("op=%s/size=%dKB", op, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					m, err := splice.Read(src, splice.Options{})
					if err != nil {
						b.Fatal(err)
					}
					if op == "convert" {
						if err := m.Convert(soap.V12); err != nil {
							b.Fatal(err)
						}
					}
					if out := m.BytesWith(nil, benchBlock); len(out) < len(src) {
						b.Fatal("output shorter than the input")
					}
				}
			})
		}
	}
}
