package outbound

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/bench"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/wssc"
	"golang.org/x/sys/unix"
)

// benchTransport answers in memory: WS-Trust requests go to the built-in
// server (so that the context is real), application messages get a canned
// answer of the same size, shaped like WCF's (a Security header with a
// Timestamp), so that both modes pay the same for the response.
//
// With served, application messages go to the built-in server too: under
// the message profile an answer must be protected with the context's
// keys, which only the server has, and relate to its request's
// MessageID, which the proxy draws afresh for every message, so that no
// answer can be replayed. The CPU the server spends on its thread is
// counted in serverCPU.
type benchTransport struct {
	sts       http.Handler
	answer    []byte
	served    bool
	serverCPU time.Duration
}

func (bt *benchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	trust := strings.Contains(r.Header.Get("SOAPAction"), "/trust/") || strings.Contains(r.Header.Get("Content-Type"), "/trust/")
	if trust || bt.served {
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if trust {
			bt.sts.ServeHTTP(rec, r)
		} else {
			bt.serverCPU += onThread(func() { bt.sts.ServeHTTP(rec, r) })
		}
		return rec.Result(), nil
	}
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"text/xml; charset=utf-8"}},
		Body: io.NopCloser(bytes.NewReader(bt.answer)), ContentLength: int64(len(bt.answer)), Request: r,
	}, nil
}

func benchEnvelope(size int, response bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">`)
	if response {
		b.WriteString(`<s:Header><o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><u:Timestamp u:Id="_0" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><u:Created>2026-11-21T00:00:00.000Z</u:Created><u:Expires>2026-11-21T00:05:00.000Z</u:Expires></u:Timestamp></o:Security></s:Header>`)
	}
	b.WriteString(`<s:Body><Process xmlns="http://tempuri.org/">`)
	for i := 0; b.Len() < size-60; i++ {
		fmt.Fprintf(&b, "<item n=\"%d\">value %d</item>", i, i)
	}
	b.WriteString(`</Process></s:Body></s:Envelope>`)
	return b.Bytes()
}

// benchAddressed is env with the WS-Addressing 1.0 headers of an
// application that addresses its messages itself, always with the same
// MessageID (which the proxy replaces on the wire under the message
// profile).
func benchAddressed(env []byte) []byte {
	const headers = `<s:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">http://tempuri.org/IService/Process</a:Action>` +
		`<a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing">urn:uuid:6f1f3c52-3a1e-4f5e-9a4b-5d2c8e7b9a10</a:MessageID>` +
		`<a:To xmlns:a="http://www.w3.org/2005/08/addressing">https://svc.example/Echo.svc</a:To></s:Header>`
	return bytes.Replace(env, []byte(`<s:Body>`), []byte(headers+`<s:Body>`), 1)
}

// BenchmarkProxy measures the proxy's own work per message, upstream in
// memory: securing off (pass) against the SC-over-TLS profile (sc-tls) and
// the x509 profile (an RSA-2048 signature per message) at 1, 10 and
// 100 KB; sc-tls-dk is sc-tls signing with a derived key (DerivedKeys);
// message is the message-security profile (Basic256, derived keys, WCF's
// order: the Body signed and encrypted, the answer verified and
// decrypted; every message answered by the built-in server).
// cpu-ns/op is the process's CPU per message (the in-memory upstream's
// share included), ns/op its wall time; under the message profile
// server-cpu-ns/op is the server's CPU on its thread and proxy-cpu-ns/op
// the rest (which still holds the server's share of the collector's
// background work).
func BenchmarkProxy(b *testing.B) {
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"u": "p"}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	msgSrv, msgBoot := benchMessageServer(b)
	up, _ := url.Parse("https://svc.example/Echo.svc")
	cert := benchCertificate(b)
	modes := []struct {
		name     string
		security Security
		profile  Profile
		derived  bool
	}{{"pass", SecurityNone, ProfileSCOverTLS, false}, {"sc-tls", SecurityContext, ProfileSCOverTLS, false},
		{"sc-tls-dk", SecurityContext, ProfileSCOverTLS, true}, {"x509", SecurityContext, ProfileX509, false},
		{"message", SecurityContext, ProfileMessage, true}}
	for _, size := range []int{1 << 10, 10 << 10, 100 << 10} {
		for _, mode := range modes {
			b.Run(fmt.Sprintf("%s/%dKB", mode.name, size>>10), func(b *testing.B) {
				req := benchEnvelope(size, false)
				cfg := Config{
					Listen: "127.0.0.1:0", Routes: []Route{{Prefix: "/", Upstream: up}},
					Security: mode.security, Profile: mode.profile, Certificate: cert, DerivedKeys: mode.derived,
					SC: wssc.Feb2005, Bootstrap: session.Username{User: "u", Password: creds.NewSecret("p")},
				}
				bt := &benchTransport{sts: srv, answer: benchEnvelope(size, true)}
				if mode.profile == ProfileMessage {
					// The application's own addressing; every message is
					// answered by the built-in server, whose share counts
					// in cpu-ns/op.
					cfg.Bootstrap, cfg.Addressing = msgBoot, Addressing{Auto: true}
					bt = &benchTransport{sts: msgSrv, served: true}
					req = benchAddressed(req)
				}
				p, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				// Ends the renewal loops (and cancels the context), which
				// the leak check of TestMain would otherwise find.
				b.Cleanup(func() { p.Shutdown(context.Background()) })
				p.client = upstream.New(upstream.Config{Transport: bt})
				serve := func() {
					r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(req))
					r.Host = "127.0.0.1:8780"
					r.Header.Set("Content-Type", "text/xml; charset=utf-8")
					r.Header.Set("SOAPAction", `"http://tempuri.org/IService/Process"`)
					w := httptest.NewRecorder()
					p.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body.String())
					}
				}
				serve() // establish outside the timing
				b.SetBytes(int64(len(req)))
				b.ReportAllocs()
				b.ResetTimer()
				bt.serverCPU = 0
				cpu0, cpuErr := bench.CPUTime(os.Getpid())
				for b.Loop() {
					serve()
				}
				// CPU per message, which a busy machine does not inflate
				// as it does ns/op (the in-memory upstream's part is small;
				// the built-in server's is reported on its own).
				if cpu1, err := bench.CPUTime(os.Getpid()); err == nil && cpuErr == nil {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
					if bt.served {
						b.ReportMetric(float64(bt.serverCPU)/float64(b.N), "server-cpu-ns/op")
						b.ReportMetric(float64(cpu1-cpu0-bt.serverCPU)/float64(b.N), "proxy-cpu-ns/op")
					}
				}
			})
		}
	}
}

// benchCertificate is the kit's RSA-2048 client certificate for the x509
// profile.
func benchCertificate(b *testing.B) *secure.Certificate {
	id := testkit.Client()
	return &secure.Certificate{Cert: id.Cert, Key: id.RSAKey()}
}

// benchMessageServer is the built-in server in the message-security
// profile (Basic256, derived keys, WCF's order, the username binding) and
// the bootstrap binding of its clients.
func benchMessageServer(b *testing.B) (*scserver.Server, *bootstrap.Message) {
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"u": "p"},
		Message: &scserver.MessageSecurity{DerivedKeys: true, Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapUsername}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	cert, _ := srv.ServiceCertificate()
	m, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.UserNameForCertificate, ServerCert: cert, Version: wssc.Feb2005,
		DerivedKeys: true, User: "u", Password: creds.NewSecret("p")})
	if err != nil {
		b.Fatal(err)
	}
	return srv, m
}

// onThread runs f locked to its thread and returns the CPU time the
// thread spent in it (the collector's background work on other threads
// is not in it).
func onThread(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var t0, t1 unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0)
	f()
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1)
	return time.Duration(t1.Nano() - t0.Nano())
}
