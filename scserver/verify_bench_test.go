package scserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Benchmarks of the service side per message, at the harness's sizes:
// parse and verify an SC-over-TLS message (HMAC over the Timestamp,
// context looked up), and the whole echo request for both profiles
// (verification of an x509 message includes the certificate chain check
// and an RSA verification).

var benchSizes = []int{1 << 10, 10 << 10, 100 << 10}

const benchAction = "http://tempuri.org/IService/Process"

// benchRig is a server trusting one client certificate's CA, with a
// context established against it by the client packages.
type benchRig struct {
	srv  *scserver.Server
	ctx  *session.Context
	cert secure.Certificate
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	id := testkit.Client()
	cert, key, pool := id.Cert, id.RSAKey(), testkit.Pool()
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"u": "p"}, TrustedCAs: pool})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	u, _ := url.Parse("https://svc.example/Service.svc")
	ep, err := session.New(session.Config{URL: u, Version: wssc.Feb2005, Bootstrap: session.Username{User: "u", Password: creds.NewSecret("p")},
		Client: upstream.New(upstream.Config{Transport: testkit.Upstream{Handler: srv}})})
	if err != nil {
		b.Fatal(err)
	}
	c, err := ep.Context(context.Background(), session.Wire{SOAP: soap.V12, Addressing: wsa.V10})
	if err != nil {
		b.Fatal(err)
	}
	return &benchRig{srv: srv, ctx: c, cert: secure.Certificate{Cert: cert, Key: key}}
}

// message returns an application message of about size bytes secured by
// profile ("sc-tls" or "x509").
func (r *benchRig) message(b *testing.B, profile string, size int) []byte {
	b.Helper()
	env, err := soap.Parse(r.plain(b, size), xmldoc.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	o := secure.Options{Now: time.Now, Rand: rand.Reader}
	var out []byte
	if profile == "x509" {
		out, err = secure.WithCertificate(env, r.cert, o)
	} else {
		out, err = secure.WithContext(env, r.ctx.Secure(), secure.ContextOptions{Options: o})
	}
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// plain returns an unsecured application message of about size bytes.
func (r *benchRig) plain(b *testing.B, size int) []byte {
	b.Helper()
	var body bytes.Buffer
	for i := 0; body.Len() < size-400; i++ {
		fmt.Fprintf(&body, `<item n="%d">value %d</item>`, i, i)
	}
	src := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>` +
		`<a:Action s:mustUnderstand="1">` + benchAction + `</a:Action><a:MessageID>urn:uuid:6a1e2c8e-0c35-4a4e-9d2f-7bb3f0b4f3a1</a:MessageID>` +
		`<a:To s:mustUnderstand="1">https://svc.example/Service.svc</a:To></s:Header><s:Body><Process xmlns="http://tempuri.org/">` + body.String() + `</Process></s:Body></s:Envelope>`
	return []byte(src)
}

// BenchmarkVerifyMessage parses and verifies an SC-over-TLS message as the
// service does for each application message.
func BenchmarkVerifyMessage(b *testing.B) {
	r := newBenchRig(b)
	for _, size := range benchSizes {
		msg := r.message(b, "sc-tls", size)
		b.Run(fmt.Sprintf("size=%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				env, err := soap.Parse(msg, xmldoc.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.srv.VerifyMessage(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServeEcho is the service's whole work for one echo request:
// parse, verify (per profile), answer.
func BenchmarkServeEcho(b *testing.B) {
	r := newBenchRig(b)
	for _, profile := range []string{"sc-tls", "x509"} {
		for _, size := range benchSizes {
			msg := r.message(b, profile, size)
			ct, _, _ := soap.V12.ContentType(benchAction)
			b.Run(fmt.Sprintf("profile=%s/size=%dKB", profile, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "/Service.svc", bytes.NewReader(msg))
					req.Header.Set("Content-Type", ct)
					rec := httptest.NewRecorder()
					r.srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						body, _ := io.ReadAll(rec.Body)
						b.Fatalf("HTTP %d: %s", rec.Code, body)
					}
				}
			})
		}
	}
}
