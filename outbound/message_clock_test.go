package outbound

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// newClockMessageProxy is newClockProxy for the message profile: the
// username binding to up's service certificate.
func newClockMessageProxy(t *testing.T, up *memUpstream, cfg Config) *Proxy {
	t.Helper()
	cert, _ := up.srv.ServiceCertificate()
	b, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.UserNameForCertificate, ServerCert: cert, Version: wssc.Feb2005,
		DerivedKeys: true, User: "u", Password: creds.NewSecret(clockPassword)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routes = []Route{{Prefix: "/", Upstream: mustURL(t, "https://svc.example/Echo.svc")}}
	cfg.SC, cfg.Profile, cfg.Bootstrap, cfg.DerivedKeys, cfg.Addressing = wssc.Feb2005, ProfileMessage, b, true, Addressing{Auto: true}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.client = upstream.New(upstream.Config{Transport: up})
	return p
}

// messageServer is the built-in server's message profile of these tests.
func messageServer() *scserver.MessageSecurity {
	return &scserver.MessageSecurity{DerivedKeys: true, Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapUsername}}
}

// TestClockMessageRenewsProactively: under the message profile the keeper
// renews a 10-minute context in place before it expires, every request
// meanwhile answered, and the shutdown cancels it.
func TestClockMessageRenewsProactively(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute, Message: messageServer()})
		p := newClockMessageProxy(t, up, Config{})
		for i := range 7 {
			if w := clockPost(p, "/", "tick"); !echoed(w, "tick") {
				t.Fatalf("request at minute %d: HTTP %d\n%s", 10*i, w.Code, w.Body)
			}
			time.Sleep(10 * time.Minute)
			synctest.Wait()
		}
		shutdown(t, p)
		st := up.srv.Stats()
		if st.Issued != 1 || st.Renewed < 6 || st.Cancelled != 1 {
			t.Fatalf("server: issued %d renewed %d cancelled %d; want 1, at least 6 and 1", st.Issued, st.Renewed, st.Cancelled)
		}
	})
}

// TestClockMessageRollover: an answer protected with the key a renewal
// replaced (the answer to a request sent before the renewal) is accepted
// during the rollover and refused after it, with the reason.
func TestClockMessageRollover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Message: messageServer()})
		p := newClockMessageProxy(t, up, Config{Rollover: time.Minute})
		defer shutdown(t, p)
		sealer, err := newMessageSealer(p)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := p.Endpoint(mustURL(t, "https://svc.example/Echo.svc"))
		if err != nil {
			t.Fatal(err)
		}
		w := session.Wire{SOAP: soap.V11, Addressing: wsa.V10}
		old, err := ep.Context(t.Context(), w)
		if err != nil {
			t.Fatal(err)
		}
		// A request protected with the first key, answered by the server.
		m, err := splice.Read([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://tempuri.org/IEchoService/EchoString</a:Action><a:MessageID>urn:uuid:7c1a4a8e-2b0f-4c1e-9d7a-0c5b6f3e8a01</a:MessageID><a:To s:mustUnderstand="1">https://svc.example/Echo.svc</a:To></s:Header><s:Body><EchoString xmlns="http://tempuri.org/"><echo>before</echo></EchoString></s:Body></s:Envelope>`), splice.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := sealer.seal(sealed{m: m, up: w, ep: ep}, old)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "https://svc.example/Echo.svc", strings.NewReader(string(r.body)))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", `"http://tempuri.org/IEchoService/EchoString"`)
		rec := httptest.NewRecorder()
		up.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("server: %d %s", rec.Code, rec.Body)
		}
		answer := rec.Body.Bytes()

		renewed, err := ep.Renew(t.Context(), old)
		if err != nil || renewed == old || renewed.Identifier() != old.Identifier() {
			t.Fatalf("renewal: %v, %v", renewed, err)
		}
		plain, err := sealer.open(r, answer)
		if err != nil || !strings.Contains(string(plain), "<echo>before</echo>") {
			t.Fatalf("during the rollover: %v\n%s", err, plain)
		}
		time.Sleep(time.Minute)
		if _, err := sealer.open(r, answer); !errors.Is(err, msgsec.ErrUnknownContext) || !strings.Contains(err.Error(), "rollover has passed") {
			t.Fatalf("after the rollover: %v, want the previous key refused", err)
		}
	})
}
