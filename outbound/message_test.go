package outbound_test

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// messageUpstream is the built-in server in the message-security profile
// over plain HTTP (message security protects the messages), recording
// what it received; tamper, when set, rewrites its answers.
type messageUpstream struct {
	srv   *scserver.Server
	ts    *httptest.Server
	url   *url.URL
	roots *x509.CertPool // the HTTPS upstream's certificate; nil over HTTP

	mu       sync.Mutex
	received [][]byte
	tamper   func(r *http.Request, resp []byte) []byte
}

func newMessageUpstream(t *testing.T, ms scserver.MessageSecurity, script scserver.Script) *messageUpstream {
	t.Helper()
	return startMessageUpstream(t, ms, script, false)
}

// startMessageUpstream is newMessageUpstream, over HTTPS when tls (its
// certificate in u.roots).
func startMessageUpstream(t *testing.T, ms scserver.MessageSecurity, script scserver.Script, tls bool) *messageUpstream {
	t.Helper()
	if ms.Bootstraps == nil {
		ms.Bootstraps = []scserver.MessageBootstrap{scserver.BootstrapAnonymous, scserver.BootstrapUsername}
	}
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{testUser: testPassword}, Message: &ms, Script: script})
	if err != nil {
		t.Fatal(err)
	}
	u := &messageUpstream{srv: srv}
	u.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		resp := rec.Body.Bytes()
		u.mu.Lock()
		u.received = append(u.received, body)
		if u.tamper != nil {
			resp = u.tamper(r, resp)
		}
		u.mu.Unlock()
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(resp)
	}))
	if tls {
		u.ts.StartTLS()
		u.roots = x509.NewCertPool()
		u.roots.AddCert(u.ts.Certificate())
	} else {
		u.ts.Start()
	}
	t.Cleanup(func() { u.ts.Close(); srv.Close() })
	u.url, _ = url.Parse(u.ts.URL + "/svc")
	return u
}

func (u *messageUpstream) setTamper(f func(r *http.Request, resp []byte) []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tamper = f
}

func (u *messageUpstream) bodies() [][]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([][]byte(nil), u.received...)
}

// messageProxyConfig is a proxy of the message-security profile for u,
// establishing under the username binding.
func messageProxyConfig(t *testing.T, u *messageUpstream, derived bool, order msgsec.Order, suite ...msgsec.Suite) outbound.Config {
	t.Helper()
	log := &testkit.LogBuffer{}
	t.Cleanup(func() {
		if strings.Contains(log.String(), testPassword) {
			t.Errorf("the password reached the log:\n%s", log)
		}
	})
	cert, _ := u.srv.ServiceCertificate()
	b, err := bootstrap.NewMessage(bootstrap.MessageConfig{
		Kind: bootstrap.UserNameForCertificate, ServerCert: cert, Version: wssc.Feb2005, Order: order, DerivedKeys: derived,
		User: testUser, Password: creds.NewSecret(testPassword), Suite: suiteOf(suite),
	})
	if err != nil {
		t.Fatal(err)
	}
	return outbound.Config{
		Routes: routes(u.url), Security: outbound.SecurityContext, Profile: outbound.ProfileMessage,
		Bootstrap: b, DerivedKeys: derived, Message: outbound.MessageSecurity{Order: order, Suite: suiteOf(suite)}, KeySize: 8 * suiteOf(suite).KeyLength(),
		Addressing: outbound.Addressing{Auto: true}, RootCAs: u.roots,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// suiteOf is the suite given, or Basic256.
func suiteOf(s []msgsec.Suite) msgsec.Suite {
	if len(s) == 0 {
		return msgsec.Basic256
	}
	return s[0]
}

// Through the proxy in the message-security profile, SOAP 1.1 and 1.2
// applications get the service's answer in their own version, while the
// service only ever sees the Body encrypted; at shutdown the context is
// cancelled, and with KeepContexts (MustNotSendCancel) it is not.
func TestMessageProfileEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		derived bool
		order   msgsec.Order
		keep    bool
		suite   string // "" for Basic256
	}{
		{"derived keys, WCF's order", true, msgsec.SignBeforeEncryptAndEncryptSignature, false, ""},
		{"no derived keys, sign-encrypt", false, msgsec.SignBeforeEncrypt, false, ""},
		{"encrypt-sign, no cancel", true, msgsec.EncryptBeforeSign, true, ""},
		{"Basic128, no derived keys, a 128-bit context key", false, msgsec.SignBeforeEncryptAndEncryptSignature, false, "Basic128"},
		{"Basic192Sha256Rsa15", true, msgsec.SignBeforeEncrypt, false, "Basic192Sha256Rsa15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			suite := msgsec.Basic256
			if tc.suite != "" {
				var err error
				if suite, err = msgsec.SuiteByName(tc.suite); err != nil {
					t.Fatal(err)
				}
			}
			u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: tc.derived, Order: tc.order, NoCancel: tc.keep, Suite: suite}, scserver.Script{})
			cfg := messageProxyConfig(t, u, tc.derived, tc.order, suite)
			cfg.KeepContexts = tc.keep
			sp := serveProxy(t, cfg)
			app := newApp(t)
			for _, v := range []struct {
				v   soap.Version
				req string
			}{{soap.V11, soap11Req}, {soap.V12, soap12Req}} {
				r := app.post(sp.base+"/", v.v, echoAction, v.req)
				if r.status != http.StatusOK || !strings.Contains(r.body, "hello") || !strings.Contains(r.body, v.v.Namespace()) {
					t.Fatalf("%s application: %d %s", v.v, r.status, r.body)
				}
				if strings.Contains(r.body, "EncryptedData") || strings.Contains(r.body, "Security") || strings.Contains(r.body, ":Id=") {
					t.Fatalf("%s application got the protection: %s", v.v, r.body)
				}
			}
			st := sp.p.Status()
			if st.Profile != "message" || st.Message == nil || st.Message.Suite != suite.Name || st.Message.Order != tc.order.String() || st.Message.DerivedKeys != tc.derived ||
				len(st.Endpoints) != 1 || st.Endpoints[0].Bootstrap != "username-for-certificate" {
				t.Fatalf("status %+v (message %+v)", st, st.Message)
			}
			for i, b := range u.bodies() {
				if bytes.Contains(b, []byte("hello")) || bytes.Contains(b, []byte(testPassword)) {
					t.Fatalf("request %d crossed the network with its Body or the password in clear:\n%s", i, b)
				}
			}
			if _, err := sp.stop(); err != nil {
				t.Fatal(err)
			}
			want := 1
			if tc.keep {
				want = 0
			}
			if st := u.srv.Stats(); st.Issued != 1 || st.Cancelled != want {
				t.Fatalf("server: issued %d cancelled %d, want 1 and %d", st.Issued, st.Cancelled, want)
			}
		})
	}
}

// The service's RenewNeeded (unprotected) renews the context and the
// request is resent; after the service forgets every context
// (BadContextToken) a new one is established and the request resent.
func TestMessageProfileRecovers(t *testing.T) {
	u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{RenewAfterMessages: 2})
	sp := serveProxy(t, messageProxyConfig(t, u, true, 0))
	app := newApp(t)
	for i := range 3 {
		if r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK || !strings.Contains(r.body, "hello") {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	if st := u.srv.Stats(); st.Renewed != 1 || st.Issued != 1 {
		t.Fatalf("after RenewNeeded: issued %d renewed %d, want 1 and 1", st.Issued, st.Renewed)
	}
	if n := u.srv.ForgetAll(); n != 1 {
		t.Fatalf("the server forgot %d contexts", n)
	}
	// BadContextToken comes in clear (the service no longer has the key):
	// the request is not resent, and the next one gets a new context.
	if r := app.post(sp.base+"/", soap.V12, echoAction, soap12Req); r.status != http.StatusBadGateway || !strings.Contains(r.body, "BadContextToken") || !strings.Contains(r.body, "was not resent") {
		t.Fatalf("after the server forgot the context: %d %s", r.status, r.body)
	}
	if r := app.post(sp.base+"/", soap.V12, echoAction, soap12Req); r.status != http.StatusOK || !strings.Contains(r.body, "hello") {
		t.Fatalf("the request after: %d %s", r.status, r.body)
	}
	if st := u.srv.Stats(); st.Issued != 2 || st.Verified != 4 {
		t.Fatalf("after BadContextToken: issued %d verified %d, want 2 and 4", st.Issued, st.Verified)
	}
}

// An answer that cannot be verified reaches the application as a fault
// in its own version naming why, with nothing of the answer.
func TestMessageProfileRefusesHostileAnswers(t *testing.T) {
	flip := func(old, new string) func(r *http.Request, resp []byte) []byte {
		return func(r *http.Request, resp []byte) []byte {
			if application(r) {
				return bytes.Replace(resp, []byte(old), []byte(new), 1)
			}
			return resp
		}
	}
	var first []byte // the first genuine answer, for the replay
	replay := func(r *http.Request, resp []byte) []byte {
		if !application(r) {
			return resp
		}
		if first == nil {
			first = resp
		}
		return first
	}
	for _, tc := range []struct {
		name   string
		tamper func(r *http.Request, resp []byte) []byte
		words  []string
		// addressed sends WS-Addressing 1.0 upstream (else the
		// application's, none); warm makes one
		// call, answered genuinely, first.
		addressed, warm bool
		// quotes: the fault quotes what the service said, marked as
		// unverified.
		quotes bool
	}{
		{name: "an earlier answer replayed", tamper: replay, words: []string{"cannot be trusted", "relates to"}, addressed: true, warm: true},
		{name: "cipher text changed", tamper: flip("<CipherValue>", "<CipherValue>AAAA"), words: []string{"cannot be trusted"}},
		{name: "signed Body moved (wrapping)", tamper: flip(`u:Id="_4"`, `u:Id="_4x"`), words: []string{"cannot be trusted"}},
		{name: "unprotected answer", tamper: func(r *http.Request, resp []byte) []byte {
			if !application(r) {
				return resp
			}
			return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><EchoStringResponse xmlns="http://tempuri.org/"><r>forged</r></EchoStringResponse></s:Body></s:Envelope>`)
		}, words: []string{"cannot be trusted"}},
		// A service fault in clear is read for what it says of the
		// context, but reaches the application only inside scproxy's own
		// fault, marked unverified (as WCF's client refuses it).
		{name: "unprotected fault", tamper: func(r *http.Request, resp []byte) []byte {
			if !application(r) {
				return resp
			}
			return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text xml:lang="en">forged outage</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`)
		}, words: []string{"did not sign or encrypt", "unverified, it says", "forged outage", "BadUpstreamResponse"}, quotes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{})
			u.setTamper(tc.tamper)
			cfg := messageProxyConfig(t, u, true, 0)
			if tc.addressed {
				cfg.Addressing = outbound.Addressing{Version: wsa.V10}
			}
			sp := serveProxy(t, cfg)
			app := newApp(t)
			if tc.warm {
				if r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK {
					t.Fatalf("the genuine first answer: %d %s", r.status, r.body)
				}
			}
			for _, v := range []struct {
				v   soap.Version
				req string
			}{{soap.V11, soap11Req}, {soap.V12, soap12Req}} {
				r := app.post(sp.base+"/", v.v, echoAction, v.req)
				if r.status != http.StatusBadGateway || !strings.Contains(r.body, v.v.Namespace()) || (!tc.quotes && strings.Contains(r.body, "forged")) {
					t.Fatalf("%s: %d %s; want a 502 fault in the application's version", v.v, r.status, r.body)
				}
				for _, w := range tc.words {
					if !strings.Contains(r.body, w) {
						t.Fatalf("%s: the fault does not say %q: %s", v.v, w, r.body)
					}
				}
			}
		})
	}
}

// application reports whether r is an application request (not WS-Trust).
func application(r *http.Request) bool {
	return strings.Contains(r.Header.Get("SOAPAction")+r.Header.Get("Content-Type"), echoAction)
}

// A 100 KB Body of more than 4,000 elements goes through the message
// profile both ways, intact.
func TestMessageProfileLargeBody(t *testing.T) {
	u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{})
	sp := serveProxy(t, messageProxyConfig(t, u, true, 0))
	var items strings.Builder
	n := 0
	for ; items.Len() < 100<<10; n++ {
		fmt.Fprintf(&items, "<i>%d</i>", n)
	}
	if n <= 4000 {
		t.Fatalf("only %d elements", n)
	}
	req := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><EchoString xmlns="http://tempuri.org/"><echo>` +
		items.String() + `</echo></EchoString></soap:Body></soap:Envelope>`
	r := newApp(t).post(sp.base+"/", soap.V11, echoAction, req)
	if r.status != http.StatusOK || !strings.Contains(r.body, items.String()) {
		t.Fatalf("%d elements: %d %.500s", n, r.status, r.body)
	}
}

// The message profile's Issues are held to the route's establishment
// rate, its Renews not.
func TestMessageProfileEstablishRate(t *testing.T) {
	u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{RenewAfterMessages: 1})
	cfg := messageProxyConfig(t, u, true, 0)
	cfg.EstablishRate = 1
	cfg.Message.ResendAfterClearFault = true // the BadContextToken below re-establishes at once
	sp := serveProxy(t, cfg)
	app := newApp(t)
	for i := range 3 { // the second and third are answered RenewNeeded, renewed and resent
		if r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	u.srv.ForgetAll()
	r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req)
	if r.status == http.StatusOK || !strings.Contains(r.body, "more than 1 establishments in a minute") {
		t.Fatalf("a second establishment within the minute: %d %s", r.status, r.body)
	}
	if st := u.srv.Stats(); st.Issued != 1 || st.Renewed != 2 {
		t.Fatalf("server: issued %d renewed %d, want 1 and 2", st.Issued, st.Renewed)
	}
}
