package msgsec

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"syscall"
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

// cpuTime is the CPU time the process has used (user and system, every
// thread: the garbage collector's share is part of the cost). The
// benchmarks compare CPU, not wall time, so that a busy machine does not
// skew the ratio.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawTokenCPU is the CPU time of one encoding/xml RawToken pass over src,
// the yardstick of the XML-security cost, averaged over enough passes
// to be measurable.
func rawTokenCPU(tb testing.TB, src []byte) time.Duration {
	tb.Helper()
	n := max(20, (50<<20)/len(src))
	start := cpuTime(tb)
	for range n {
		d := xml.NewDecoder(bytes.NewReader(src))
		for {
			if _, err := d.RawToken(); err == io.EOF {
				break
			} else if err != nil {
				tb.Fatal(err)
			}
		}
	}
	return (cpuTime(tb) - start) / time.Duration(n)
}

// reportRatio reports the CPU per operation of the loop just run as a
// multiple of base and, when plain is not zero, of plain (a RawToken
// pass over the plain message, the yardstick that does not depend on how
// cheaply the encrypted form tokenizes).
func reportRatio(b *testing.B, start, base, plain time.Duration) {
	per := (cpuTime(b) - start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds()), "cpu-ns/op")
	b.ReportMetric(float64(per)/float64(base), "x-rawtoken")
	if plain > 0 {
		b.ReportMetric(float64(per)/float64(plain), "x-rawtoken-plain")
	}
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

func newBenchExchange(tb testing.TB, order Order, size int) benchExchange {
	tb.Helper()
	var x benchExchange
	x.client = mustProfile(tb, config(Client, Basic256, order, true))
	x.server = mustProfile(tb, config(Server, Basic256, order, true))
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

// benchRuns runs fn for each protection order and size.
func benchRuns(b *testing.B, fn func(b *testing.B, x benchExchange)) {
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dKB", order, size>>10), func(b *testing.B) {
				fn(b, newBenchExchange(b, order, size))
			})
		}
	}
}

// BenchmarkProtect: the client's cost of protecting a request (parsing
// the application's bytes, signing, encrypting, serializing), reported as
// a multiple of a RawToken pass over the application's request.
func BenchmarkProtect(b *testing.B) {
	benchRuns(b, func(b *testing.B, x benchExchange) {
		base := rawTokenCPU(b, x.plainReq)
		tok := benchToken(b)
		b.SetBytes(int64(len(x.plainReq)))
		b.ReportAllocs()
		start := cpuTime(b)
		for b.Loop() {
			env, err := soap.ParseWith(x.plainReq, xmldoc.Options{NoProcInst: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := x.client.Protect(env, tok); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, start, base, 0)
	})
}

// BenchmarkOpen: the client's cost of opening an answer (parsing,
// decrypting, verifying), as a multiple of a RawToken pass over the
// protected answer (x-rawtoken) and over the plain answer
// (x-rawtoken-plain).
func BenchmarkOpen(b *testing.B) {
	benchRuns(b, func(b *testing.B, x benchExchange) {
		base, plain := rawTokenCPU(b, x.resp), rawTokenCPU(b, x.plainResp)
		exp := Expect{Request: x.sent, ContextKeys: keysOf(contextKey)}
		b.SetBytes(int64(len(x.resp)))
		b.ReportAllocs()
		start := cpuTime(b)
		for b.Loop() {
			env, err := soap.ParseWith(x.resp, xmldoc.Options{NoProcInst: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := x.client.Open(env, exp); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, start, base, plain)
	})
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
