package msgsec

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// dense is an application body of about n bytes made of many small
// elements: 100 KB of it holds over 5,000.
func dense(n int) string {
	var b strings.Builder
	b.WriteString(`<Echo xmlns="urn:interop"><items>`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `<v n="%d">%d</v>`, i%100, i)
	}
	b.WriteString(`</items></Echo>`)
	return b.String()
}

// rawTokenTime is the median time of one encoding/xml RawToken pass over
// src, the yardstick of the XML-security cost.
func rawTokenTime(tb testing.TB, src []byte) time.Duration {
	tb.Helper()
	var runs []time.Duration
	for range 31 {
		start := time.Now()
		d := xml.NewDecoder(bytes.NewReader(src))
		for {
			if _, err := d.RawToken(); err == io.EOF {
				break
			} else if err != nil {
				tb.Fatal(err)
			}
		}
		runs = append(runs, time.Since(start))
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
	return runs[len(runs)/2]
}

var benchSizes = []int{1 << 10, 10 << 10, 100 << 10}

// benchExchange is a client request of size bytes protected, and the
// service's answer of the same size, with the profiles that made them.
type benchExchange struct {
	client, server *Profile
	plainReq       []byte // the application's request as it arrives
	sent           *Sent
	plainResp      []byte // the service's answer before protection
	resp           []byte // the protected answer
}

func newBenchExchange(tb testing.TB, size int) benchExchange {
	tb.Helper()
	var x benchExchange
	x.client = mustProfile(tb, config(Client, Basic256, SignBeforeEncryptAndEncryptSignature, true))
	x.server = mustProfile(tb, config(Server, Basic256, SignBeforeEncryptAndEncryptSignature, true))
	body := dense(size)
	x.plainReq = request(tb, soap.V12, body, testkit.Rand("bench")).Bytes()
	var err error
	if x.sent, err = x.client.Protect(parse(tb, x.plainReq), benchToken(tb)); err != nil {
		tb.Fatal(err)
	}
	in, err := x.server.Open(parse(tb, x.sent.Bytes), Expect{ContextKeys: keysOf(contextKey)})
	if err != nil {
		tb.Fatal(err)
	}
	x.plainResp = response(tb, soap.V12, in.Addressing.MessageID, body).Bytes()
	ans, err := x.server.Protect(parse(tb, x.plainResp), Outgoing{Token: in.Reply})
	if err != nil {
		tb.Fatal(err)
	}
	x.resp = ans.Bytes
	return x
}

func benchToken(tb testing.TB) Outgoing {
	return Outgoing{Token: Token{Context: &Context{Token: newSCT(tb, wssc.Feb2005), Key: contextKey, Include: true}}}
}

// BenchmarkProtect: the client's cost of protecting a request (parsing
// the application's bytes, signing, encrypting, serializing), reported as
// a multiple of a RawToken pass over the application's request.
func BenchmarkProtect(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			x := newBenchExchange(b, size)
			base := rawTokenTime(b, x.plainReq)
			tok := benchToken(b)
			b.SetBytes(int64(len(x.plainReq)))
			b.ReportAllocs()
			for b.Loop() {
				env, err := soap.ParseWith(x.plainReq, xmldoc.Options{NoProcInst: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := x.client.Protect(env, tok); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(base), "x-rawtoken")
		})
	}
}

// BenchmarkOpen: the client's cost of opening an answer (parsing,
// decrypting, verifying), as a multiple of a RawToken pass over the
// protected answer.
func BenchmarkOpen(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			x := newBenchExchange(b, size)
			base := rawTokenTime(b, x.resp)
			exp := Expect{Request: x.sent, ContextKeys: keysOf(contextKey)}
			b.SetBytes(int64(len(x.resp)))
			b.ReportAllocs()
			for b.Loop() {
				env, err := soap.ParseWith(x.resp, xmldoc.Options{NoProcInst: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := x.client.Open(env, exp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(base), "x-rawtoken")
		})
	}
}

// TestLargeBody: a 100 KB body of over 4,000 elements goes through the
// whole exchange, both ways, unchanged.
func TestLargeBody(t *testing.T) {
	body := dense(100 << 10)
	if n := strings.Count(body, "<v "); n <= 4000 {
		t.Fatalf("only %d elements", n)
	}
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		respIn, reqIn := exchange{suite: Basic256, order: order, derived: true, kind: sctIncluded, body: body}.run(t)
		want := canon(t, request(t, soap.V12, body, testkit.Rand("x")).Body)
		if canon(t, reqIn.Envelope.Body) != want || canon(t, respIn.Envelope.Body) != want {
			t.Errorf("%s: the body changed on the way", order)
		}
	}
}
