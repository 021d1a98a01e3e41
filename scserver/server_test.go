package scserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestTLS: the server speaks TLS with a certificate for loopback that
// chains to the CA it wrote out, and to nothing else.
func TestTLS(t *testing.T) {
	h := start(t, Config{})
	if !strings.HasPrefix(h.srv.URL(), "https://127.0.0.1:") {
		t.Errorf("URL %q", h.srv.URL())
	}
	pemBytes, err := os.ReadFile(h.srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file holds no certificate")
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(h.srv.URL(), "https://"), "/"))
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Errorf("TLS to %s with the CA file: %v", host, err)
			continue
		}
		conn.Close()
	}
	if _, err := http.Post(h.srv.URL(), "text/xml", nil); err == nil {
		t.Error("a client without the CA trusted the server")
	}
	// Close removes the temporary CA directory, and is idempotent.
	dir := filepath.Dir(h.srv.CAFile())
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("CA directory left behind: %v", err)
	}
	if err := h.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestPlainHTTPAndServe: plain HTTP on a listener the caller made, the CA
// written to a chosen directory that Close leaves alone, and shutdown by
// context.
func TestPlainHTTPAndServe(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(testStart)
	srv, err := New(Config{PlainHTTP: true, CertDir: dir, Now: clk.Now, Rand: &detRand{}, Users: map[string]string{testUser: testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL() != "" {
		t.Errorf("URL before serving: %q", srv.URL())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	for srv.URL() == "" {
		time.Sleep(time.Millisecond)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	h := &harness{t: t, srv: srv, clock: clk, client: http.DefaultClient, rand: &detRand{}, pki: loadPKI(t)}
	c := h.issue(wssc.V1_3)
	h.echo(c, refDerived).ok(t)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after Close", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err != nil {
		t.Errorf("CA in the chosen directory: %v", err)
	}

	srv2, err := New(Config{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := srv2.URL()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := http.Get(url)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still answering after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConfigRefused: settings that cannot work are refused by New.
func TestConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero version", Config{Versions: []wssc.Version{{}}}},
		{"entropy", Config{Entropy: Entropy(7)}},
		{"negative lifetime", Config{Lifetime: -time.Second}},
		{"negative skew", Config{Skew: -time.Second}},
		{"script", Config{Script: Script{RenewAfterMessages: -1}}},
		{"address", Config{Addr: "no port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := New(tc.cfg); err == nil {
				s.Close()
				t.Error("accepted")
			}
		})
	}
	for _, s := range []string{"auto", "combined", "client", "server"} {
		if e, err := ParseEntropy(s); err != nil || e.String() != s {
			t.Errorf("ParseEntropy(%q) = %v, %v", s, e, err)
		}
	}
	if _, err := ParseEntropy("both"); err == nil {
		t.Error("ParseEntropy accepted nonsense")
	}
}

// TestStatsAndLog: the counters follow a session, and each request logs
// exactly one line that names the context and never the key, the
// entropy or the password.
func TestStatsAndLog(t *testing.T) {
	var logs testkit.LogBuffer
	h := start(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	entropy := bytes.Repeat([]byte{0x5a}, 32)
	c := h.issue(wssc.V1_3)
	h.echo(c, refID).ok(t)
	bad := c
	bad.key = bytes.Repeat([]byte{1}, 32)
	h.echo(bad, refID).wantFault(t, codeFailedCheck, "")
	c = h.renew(c)
	h.post(soap.V12, c.v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(c.v, c.identifier, c.instance), nil)).ok(t)
	h.echo(c, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "")

	st := h.srv.Stats()
	want := Stats{Requests: 6, Issued: 1, Renewed: 1, Cancelled: 1, Verified: 1, Rejected: 2}
	if st.Requests != want.Requests || st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 || st.Verified != 1 || st.Rejected != 2 {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	cs := st.Contexts[c.identifier]
	if cs.Verified != 1 || cs.Rejected != 2 || cs.Renewed != 1 || !cs.Cancelled || !strings.Contains(cs.LastFailure, "was cancelled") {
		t.Errorf("context stats %+v", cs)
	}
	if len(st.LastFailures) != 2 || !strings.Contains(st.LastFailures[0], "does not verify") {
		t.Errorf("last failures %q", st.LastFailures)
	}
	// Stats is a copy.
	st.Contexts[c.identifier] = ContextStats{}
	st.LastFailures[0] = "changed"
	if h.srv.Stats().Contexts[c.identifier].Verified != 1 || h.srv.Stats().LastFailures[0] == "changed" {
		t.Error("Stats shares memory with the server")
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d log lines for 6 requests:\n%s", len(lines), logs.String())
	}
	ops := []string{"issue", "echo", "echo", "renew", "cancel", "echo"}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["op"] != ops[i] || rec["context"] != c.identifier {
			t.Errorf("line %d: op %v context %v, want %s %s", i, rec["op"], rec["context"], ops[i], c.identifier)
		}
	}
	if !strings.Contains(lines[0], `"principal":"user:alice"`) || !strings.Contains(lines[2], `"fault":"FailedCheck"`) {
		t.Errorf("log lines lack principal or fault:\n%s", logs.String())
	}
	for _, secret := range [][]byte{c.key, entropy, []byte(testPassword)} {
		for _, form := range []string{string(secret), base64.StdEncoding.EncodeToString(secret), fmt.Sprintf("%x", secret)} {
			if strings.Contains(logs.String(), form) {
				t.Errorf("log contains secret material %q", form)
			}
		}
	}
}

// TestConcurrentClients runs many clients at once (run with -race):
// issues, echoes, renewals and a recycle interleave without corrupting a
// context.
func TestConcurrentClients(t *testing.T) {
	h := start(t, Config{Script: Script{RenewAfterMessages: 3}})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := wssc.Versions[i%2]
			c := h.issue(v)
			for range 10 {
				r := h.echo(c, keyRef(i%3))
				switch {
				case r.fault == nil && r.status == http.StatusOK:
				case r.fault != nil && r.fault.Has(v.Fault(wssc.RenewNeeded)):
					c = h.renew(c)
				default:
					errs <- fmt.Errorf("client %d: %s", i, r.raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.srv.Stats(); st.Issued != 8 || st.Verified+st.Faults["RenewNeeded"] != 80 {
		t.Errorf("stats %+v", st)
	}
}

// TestClientPackagesInterop drives a whole session with scproxy's own
// client-side builders (wire/wssc, wire/secure): one more message source
// next to the hand-built ones, not the only one.
func TestClientPackagesInterop(t *testing.T) {
	for _, v := range wssc.Versions {
		for _, derive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/derive=%t", v, derive), func(t *testing.T) {
				h := start(t, Config{})
				opts := secure.Options{Now: h.clock.Now, Rand: &detRand{ctr: 99}}
				call := func(action string, payload []byte, secureIt func(*soap.Envelope) ([]byte, error)) *response {
					env := soap.NewEnvelope(soap.V12)
					d, err := xmldoc.Parse(payload, xmldoc.Options{})
					if err != nil {
						t.Fatal(err)
					}
					root := d.Root()
					d.RemoveChild(root)
					env.Body.AddChild(root)
					hd, err := wsa.NewRequest(wsa.V10, action, h.srv.URL(), &detRand{ctr: 7})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := hd.AddTo(env.Header, wsa.V10); err != nil {
						t.Fatal(err)
					}
					src, err := secureIt(env)
					if err != nil {
						t.Fatal(err)
					}
					return h.post(soap.V12, action, src)
				}
				establish := func(r *response, rst *wssc.RST, op wssc.Operation) secure.Context {
					resp, err := wssc.ParseResponse(r.env.Doc, r.payload(t), v)
					if err != nil {
						t.Fatal(err)
					}
					if err := resp.Expect(op); err != nil {
						t.Fatal(err)
					}
					key, err := resp.Key(rst.ClientEntropy)
					if err != nil {
						t.Fatal(err)
					}
					return secure.Context{Version: v, Token: resp.Token, Key: key}
				}
				rst, err := wssc.BuildIssue(wssc.Params{Version: v, Rand: &detRand{ctr: 5}})
				if err != nil {
					t.Fatal(err)
				}
				r := call(v.Action(wssc.Issue), xmldoc.Serialize(rst.Element), func(env *soap.Envelope) ([]byte, error) {
					return secure.WithUsername(env, testUser, testPassword, true, opts)
				}).ok(t)
				sc := establish(r, rst, wssc.Issue)
				co := secure.ContextOptions{Options: opts, Derive: derive}
				withCtx := func(env *soap.Envelope) ([]byte, error) { return secure.WithContext(env, sc, co) }
				call(echoAction, []byte(echoBody), withCtx).ok(t)

				renew, err := wssc.BuildRenew(wssc.Params{Version: v, Rand: &detRand{ctr: 6}}, sc.Token.Ref())
				if err != nil {
					t.Fatal(err)
				}
				// The Renew carries the bootstrap credential, endorsed by the context.
				r = call(v.Action(wssc.Renew), xmldoc.Serialize(renew.Element), func(env *soap.Envelope) ([]byte, error) {
					o := opts
					o.Endorse = &secure.Endorsement{Context: sc}
					return secure.WithUsername(env, testUser, testPassword, true, o)
				}).ok(t)
				sc = establish(r, renew, wssc.Renew)
				call(echoAction, []byte(echoBody), withCtx).ok(t)

				cancel, err := wssc.BuildCancel(v, sc.Token.Ref())
				if err != nil {
					t.Fatal(err)
				}
				r = call(v.Action(wssc.Cancel), xmldoc.Serialize(cancel), withCtx).ok(t)
				resp, err := wssc.ParseResponse(r.env.Doc, r.payload(t), v)
				if err != nil || resp.Expect(wssc.Cancel) != nil {
					t.Fatalf("cancel reply: %v", err)
				}
				call(echoAction, []byte(echoBody), withCtx).wantFault(t, v.Fault(wssc.BadContextToken), "cancelled")
			})
		}
	}
}
