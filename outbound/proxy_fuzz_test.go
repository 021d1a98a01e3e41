package outbound_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzProxyRequest sends arbitrary bodies as SOAP 1.1 or 1.2 requests to
// a proxy in front of the built-in server. Whatever comes in, nothing
// panics and the application gets a SOAP envelope: a fault with an error
// status, or the service's answer; never the bootstrap password. The
// seeds are the small cases of the hostile corpus (testdata/hostile, read
// from there so that the corpus has one copy) and valid SOAP 1.1 and 1.2
// requests (testdata/fuzz/FuzzProxyRequest).
func FuzzProxyRequest(f *testing.F) {
	addHostileSeeds(f)
	up := newQuietUpstream(f)
	p := newFuzzProxy(f, up.url(f), up.srv.CertPool())
	f.Fuzz(func(t *testing.T, body []byte, soap12 bool) {
		spec := "soap11"
		if soap12 {
			spec = "soap12"
		}
		sp, _ := parseSendSpec(spec)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, sp.request(body))
		checkProxyAnswer(t, rec)
	})
}

// newFuzzProxy is a proxy to target whose log is checked for the
// bootstrap password as it is written, and not kept: a fuzzing run logs
// millions of lines.
func newFuzzProxy(f *testing.F, target *url.URL, roots *x509.CertPool) *outbound.Proxy {
	logs := &canaryWriter{}
	f.Cleanup(func() {
		if logs.leaked != "" {
			f.Errorf("canary: the bootstrap password is in the log:\n%s", logs.leaked)
		}
	})
	p, err := outbound.New(outbound.Config{
		Routes: routes(target), RootCAs: roots, MaxBody: 64 << 10,
		Bootstrap: session.Username{User: testUser, Password: creds.NewSecret(testPassword)},
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

// FuzzUpstreamAnswer makes the service answer every application message
// with arbitrary bytes, status and content type. Whatever it answers,
// nothing panics and the application gets a SOAP envelope (a fault with
// an error status when the answer was not a usable one), or an empty
// answer to an empty 2xx one. (The fuzzer found two answers the test
// server cannot send, a final 1xx and a 204 with a body; both are
// excluded above, scproxy passes on what net/http makes of them.) Seeds
// (an answer, a fault, a one-way 202, an HTML error page) are in
// testdata/fuzz/FuzzUpstreamAnswer.
func FuzzUpstreamAnswer(f *testing.F) {
	ok := soap.NewEnvelope(soap.V11).Bytes()
	up := newFaultyUpstream(f)
	up.app.Store(int32(canned))
	up.canned.Store(&cannedAnswer{status: 200, contentType: "text/xml", body: ok})
	p := newFuzzProxy(f, up.url(f, "/Echo.svc"), up.ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
	sp, _ := parseSendSpec("soap11")
	f.Fuzz(func(t *testing.T, body []byte, status uint16, contentType string) {
		// A final status only: a handler's 1xx is sent as an interim
		// answer, and net/http then ends the exchange with an empty 200.
		if status < 200 || status > 599 || strings.ContainsAny(contentType, "\r\n\x00") {
			return
		}
		up.canned.Store(&cannedAnswer{status: int(status), contentType: contentType, body: body})
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, sp.request(envelope11("", echoPayload("x"))))
		bodiless := len(body) == 0 || status == http.StatusNoContent // net/http drops a 204's body
		if rec.Body.Len() == 0 && bodiless && status >= 200 && status < 300 {
			return // a one-way answer, passed on
		}
		checkProxyAnswer(t, rec)
	})
}

// checkProxyAnswer: the answer is a SOAP envelope; a fault comes with an
// error status; the bootstrap password is not in it.
func checkProxyAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if strings.Contains(rec.Body.String(), testPassword) {
		t.Fatalf("the bootstrap password reached the application:\n%s", rec.Body.String())
	}
	env, err := soap.Parse(rec.Body.Bytes(), xmldoc.Limits{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatalf("HTTP %d, the answer is not SOAP: %v\n%.500s", rec.Code, err, rec.Body.String())
	}
	f, err := env.Fault()
	if err != nil {
		t.Fatalf("HTTP %d, malformed fault: %v\n%.500s", rec.Code, err, rec.Body.String())
	}
	if f != nil && rec.Code < 400 {
		t.Fatalf("a fault with HTTP %d", rec.Code)
	}
}

// addHostileSeeds adds the committed cases of the hostile corpus under 64
// KiB as seeds, each as SOAP 1.1.
func addHostileSeeds(f *testing.F) {
	entries, err := os.ReadDir(hostileDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(hostileDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if e.Name() != "README.md" && len(b) < 64<<10 {
			f.Add(b, false)
		}
	}
}
