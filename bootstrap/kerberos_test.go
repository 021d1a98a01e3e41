package bootstrap_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/bench"
	"github.com/scproxy/scproxy/internal/kdctest"
	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// krbLogs collects every log line of a test twice, through a JSON and a
// text handler at debug level, as the canary test needs.
type krbLogs struct {
	json, text testkit.LogBuffer
}

// logger returns a logger writing to both handlers.
func (l *krbLogs) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewMultiHandler(slog.NewJSONHandler(&l.json, opts), slog.NewTextHandler(&l.text, opts)))
}

func (l *krbLogs) all() string {
	return l.json.String() + l.text.String()
}

// krbRig is a real KDC, the built-in server accepting its service's
// tickets over real TLS, and a recorder of every request body the server
// received.
type krbRig struct {
	kdc  *kdctest.KDC
	srv  *scserver.Server
	url  *url.URL
	cli  *upstream.Client
	logs *krbLogs

	mu       sync.Mutex
	received [][]byte
}

func newKrbRig(t testing.TB) *krbRig {
	t.Helper()
	r := &krbRig{kdc: kdctest.Start(t), logs: &krbLogs{}}
	acc, err := scserver.LoadKerberosAcceptor(r.kdc.ServiceKeytab, r.kdc.SPN)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Kerberos: acc, Logger: r.logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.received = append(r.received, body)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, req)
	}))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	r.srv = srv
	r.url, _ = url.Parse(ts.URL + "/service")
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	r.cli = upstream.New(upstream.Config{RootCAs: pool})
	return r
}

// endpoint returns a session endpoint bootstrapped with krb.
func (r *krbRig) endpoint(t testing.TB, krb session.Bootstrap) *session.Endpoint {
	t.Helper()
	ep, err := session.New(r.config(krb))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func (r *krbRig) config(krb session.Bootstrap) session.Config {
	return session.Config{URL: r.url, Version: wssc.V1_3, Bootstrap: krb, Client: r.cli, Timeout: 10 * time.Second, Logger: r.logs.logger()}
}

// issues returns the Issue requests the server received.
func (r *krbRig) issues() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, b := range r.received {
		if bytes.Contains(b, []byte(wssc.V1_3.RequestType(wssc.Issue))) {
			out = append(out, b)
		}
	}
	return out
}

// kerberosFor returns the bootstrap for the rig's user with a password or
// the user keytab, logging to the rig.
func (r *krbRig) kerberosFor(t testing.TB, credential string) *bootstrap.Kerberos {
	t.Helper()
	c := bootstrap.KerberosConfig{Krb5Conf: r.kdc.Krb5Conf, Principal: r.kdc.User, SPN: r.kdc.SPN, Logger: r.logs.logger()}
	switch credential {
	case "password":
		c.Password = creds.NewSecret(r.kdc.Password)
	case "keytab":
		c.KeytabFile = r.kdc.UserKeytab
	}
	krb, err := bootstrap.NewKerberos(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { krb.Close() })
	return krb
}

var krbWire = session.Wire{SOAP: soap.V12, Addressing: wsa.V10}

// krbExposed is what an Issue request gave away on the wire, as the server
// sees it: the GSS token, the AP-REQ, the ticket, and the keys inside
// (decrypted here with the service keytab).
type krbExposed struct {
	gss, apreq, ticket []byte
	sessionKey, subkey []byte
	client             string
}

// openKrbIssue reads the Kerberos token of an Issue request and decrypts it
// with the service keytab, independently of scserver.
func openKrbIssue(t *testing.T, k *kdctest.KDC, body []byte) krbExposed {
	t.Helper()
	env, err := soap.Parse(body, xmldoc.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	bst, err := xmldoc.One(sec, wss.NameBinarySecurityToken)
	if err != nil {
		t.Fatal(err)
	}
	var x krbExposed
	if x.gss, err = wss.DecodeBase64(bst.Text()); err != nil {
		t.Fatal(err)
	}
	if x.apreq, err = wss.UnwrapGSSKerberosAPREQ(x.gss); err != nil {
		t.Fatal(err)
	}
	var ap messages.APReq
	if err := ap.Unmarshal(x.apreq); err != nil {
		t.Fatal(err)
	}
	if x.ticket, err = ap.Ticket.Marshal(); err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(k.ServiceKeytab)
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Ticket.DecryptEncPart(kt, nil); err != nil {
		t.Fatal(err)
	}
	x.sessionKey = ap.Ticket.DecryptedEncPart.Key.KeyValue
	plain, err := crypto.DecryptEncPart(ap.EncryptedAuthenticator, ap.Ticket.DecryptedEncPart.Key, keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Authenticator.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	x.subkey = ap.Authenticator.SubKey.KeyValue
	x.client = ap.Authenticator.CName.PrincipalNameString() + "@" + ap.Authenticator.CRealm
	return x
}

// TestKerberosContextLifecycle establishes a context against the built-in
// server with a ticket from a real MIT KDC, obtained with the user's
// password and with its keytab, then renews it, re-establishes it (a new
// authenticator, not a replay) and cancels it. The server names the
// Kerberos principal; the Issue request carries a subkey of the session
// key's type, and xmlsec1 verifies its signature with that subkey as the
// HMAC key, independently of scproxy's verifier.
func TestKerberosContextLifecycle(t *testing.T) {
	r := newKrbRig(t)
	for _, credential := range []string{"password", "keytab"} {
		t.Run(credential, func(t *testing.T) {
			before := r.srv.Stats()
			krb := r.kerberosFor(t, credential)
			ep, sp := pooled(t, r.config(krb), false)
			ctx := context.Background()
			first, err := ep.Context(ctx, krbWire)
			if err != nil {
				t.Fatal(err)
			}
			renewed, err := ep.Renew(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			if renewed.Identifier() != first.Identifier() || bytes.Equal(renewed.Secure().Key, first.Secure().Key) {
				t.Fatalf("renewal gave %s, was %s", renewed.Identifier(), first.Identifier())
			}
			again, err := ep.Reissue(ctx, renewed)
			if err != nil {
				t.Fatalf("second Issue with a fresh authenticator: %v", err)
			}
			if again.Identifier() == first.Identifier() {
				t.Fatal("reissue kept the context")
			}
			if err := sp.Close(ctx); err != nil {
				t.Fatal(err)
			}
			st := r.srv.Stats()
			if st.Issued-before.Issued != 2 || st.Renewed-before.Renewed != 1 || st.Cancelled-before.Cancelled != 1 || st.Rejected != before.Rejected {
				t.Fatalf("server stats %+v, before %+v", st, before)
			}
			if s := ep.Status(); s.Bootstrap != "kerberos" || s.Establishes != 2 || s.Renewals != 1 || s.Cancels != 1 {
				t.Fatalf("status %+v", s)
			}
			if !strings.Contains(r.logs.all(), "krb5:"+r.kdc.Principal()) {
				t.Fatalf("server log does not name krb5:%s:\n%s", r.kdc.Principal(), r.logs.all())
			}
			issues := r.issues()
			x := openKrbIssue(t, r.kdc, issues[len(issues)-1])
			if x.client != r.kdc.Principal() || len(x.subkey) == 0 || len(x.subkey) != len(x.sessionKey) || bytes.Equal(x.subkey, x.sessionKey) {
				t.Fatalf("authenticator by %s, subkey of %d bytes, session key of %d", x.client, len(x.subkey), len(x.sessionKey))
			}
			ids := []string{wss.NSWSU + ":Timestamp", wsa.NS10 + ":To"}
			if out, ok := oracle.XMLSecVerify(t, issues[len(issues)-1], oracle.Key{HMAC: x.subkey}, ids...); !ok {
				t.Fatalf("xmlsec1 rejects the Issue signature with the subkey:\n%s", out)
			}
			if _, ok := oracle.XMLSecVerify(t, issues[len(issues)-1], oracle.Key{HMAC: x.sessionKey}, ids...); ok {
				t.Fatal("xmlsec1 accepts the signature with the ticket session key too: the check proves nothing")
			}
		})
	}
}

// TestKerberosWrongPassword: the KDC refuses a wrong password; the error
// names the principal and says authentication failed at the KDC, wraps
// ErrKDCAuthentication, and never holds the password. Nothing reaches the
// server.
func TestKerberosWrongPassword(t *testing.T) {
	r := newKrbRig(t)
	wrong := "Wrong-" + r.kdc.Password
	// bob must pre-authenticate: the KDC itself refuses the wrong
	// password (KDC_ERR_PREAUTH_FAILED) instead of answering with a reply
	// the client cannot decrypt, as it does for alice.
	r.kdc.Admin(t, "addprinc +requires_preauth -pw "+r.kdc.Password+" bob")
	tests := []struct {
		name, user, password, want string
	}{
		{"wrong password", r.kdc.User, wrong, "wrong password"},
		{"wrong password, pre-authentication required", "bob", wrong, "wrong password"},
		{"unknown principal", "mallory", wrong, "does not know the principal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			krb, err := bootstrap.NewKerberos(bootstrap.KerberosConfig{Krb5Conf: r.kdc.Krb5Conf, Principal: tc.user, Password: creds.NewSecret(tc.password), SPN: r.kdc.SPN})
			if err != nil {
				t.Fatal(err)
			}
			defer krb.Close()
			_, err = r.endpoint(t, krb).Context(context.Background(), krbWire)
			var ke *bootstrap.KerberosError
			if !errors.As(err, &ke) || !errors.Is(err, bootstrap.ErrKDCAuthentication) {
				t.Fatalf("error %v (%T), want a KerberosError for an authentication failure", err, err)
			}
			msg := err.Error()
			for _, want := range []string{tc.user + "@" + kdctest.Realm, "authentication failed at the KDC", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, tc.password) || strings.Contains(msg, r.kdc.Password) {
				t.Fatal("password in the error")
			}
			if n := len(r.issues()); n != 0 {
				t.Fatalf("%d Issue requests reached the server", n)
			}
		})
	}
}

// TestKerberosCanary runs the lifecycle with the password and with the
// keytab, every logger at debug level (the endpoint's, the server's and
// the bootstrap's, JSON and text), then a failing login, and looks for the
// secrets in every log line, error and status: the password, the keytab's
// keys, and of every Issue request the GSS token, the AP-REQ and the
// ticket, the session key and the subkey (raw, base64 and hex).
func TestKerberosCanary(t *testing.T) {
	r := newKrbRig(t)
	ctx := context.Background()
	var texts []string
	for _, credential := range []string{"password", "keytab"} {
		krb := r.kerberosFor(t, credential)
		ep, sp := pooled(t, r.config(krb), false)
		c, err := ep.Context(ctx, krbWire)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ep.Renew(ctx, c); err != nil {
			t.Fatal(err)
		}
		status, err := json.Marshal(ep.Status())
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(status), fmt.Sprintf("%v %+v %#v %s", krb, krb, krb, krb))
		if err := sp.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := bootstrap.NewKerberos(bootstrap.KerberosConfig{Krb5Conf: r.kdc.Krb5Conf, Principal: r.kdc.User, Password: creds.NewSecret(r.kdc.Password + "x"), SPN: r.kdc.SPN, Logger: r.logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	badEP := r.endpoint(t, bad)
	_, err = badEP.Context(ctx, krbWire)
	if err == nil {
		t.Fatal("a wrong password established a context")
	}
	status, _ := json.Marshal(badEP.Status())
	texts = append(texts, err.Error(), string(status), r.logs.all())
	if !strings.Contains(r.logs.all(), "kerberos login") || !strings.Contains(r.logs.all(), `"level":"DEBUG"`) {
		t.Fatalf("debug lines missing, the canary would prove nothing:\n%s", r.logs.all())
	}

	secrets := map[string][]byte{"password": []byte(r.kdc.Password)}
	add := func(name string, b []byte) {
		secrets[name+" (raw)"] = b
		secrets[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(b))
		secrets[name+" (hex)"] = []byte(hex.EncodeToString(b))
	}
	kt, err := keytab.Load(r.kdc.UserKeytab)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range kt.Entries {
		add(fmt.Sprintf("keytab key %d", i), e.Key.KeyValue)
	}
	issues := r.issues()
	if len(issues) != 2 {
		t.Fatalf("%d Issue requests, want 2", len(issues))
	}
	for i, body := range issues {
		x := openKrbIssue(t, r.kdc, body)
		for name, b := range map[string][]byte{"GSS token": x.gss, "AP-REQ": x.apreq, "ticket": x.ticket, "session key": x.sessionKey, "subkey": x.subkey} {
			add(fmt.Sprintf("issue %d %s", i, name), b)
		}
	}
	for _, text := range texts {
		for name, s := range secrets {
			if bytes.Contains([]byte(text), s) {
				t.Errorf("%s found in: %.300s", name, text)
			}
		}
	}
}

// TestKerberosGivesUpWithTheContext: a KDC that accepts the connection but
// never answers holds Secure only as long as the caller's context.
func TestKerberosGivesUpWithTheContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	text := fmt.Sprintf("[libdefaults]\n default_realm = HUNG.TEST\n udp_preference_limit = 1\n[realms]\n HUNG.TEST = {\n  kdc = %s\n }\n", l.Addr())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	krb, err := bootstrap.NewKerberos(bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", Password: creds.NewSecret("pw"), SPN: "HTTP/localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	env := soap.NewEnvelope(soap.V12)
	_, err = krb.Secure(ctx, env, krbSecureOptions())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "alice@HUNG.TEST") {
		t.Fatalf("error %v, want the deadline naming the principal", err)
	}
	testkit.Budget(t, "Secure's return after its 150 ms deadline", time.Since(start), 500*time.Millisecond)
	// Hang up: the exchange left behind ends, and Close waits for it.
	l.Close()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	krb.Close()
	if _, err := krb.Secure(context.Background(), env, krbSecureOptions()); !errors.Is(err, bootstrap.ErrKerberosClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestNewKerberosValidates refuses incomplete or contradictory settings
// without contacting a KDC, and never repeats the password.
func TestNewKerberosValidates(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = EXAMPLE.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "canary-Krb-P4ss"
	tests := []struct {
		name string
		c    bootstrap.KerberosConfig
		want string
	}{
		{"no principal", bootstrap.KerberosConfig{Krb5Conf: conf, Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "not a user name"},
		{"no credential", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", SPN: "HTTP/x"}, "exactly one of a password and a keytab"},
		{"both credentials", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", Password: creds.NewSecret(pw), KeytabFile: "k", SPN: "HTTP/x"}, "exactly one"},
		{"no SPN", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", Password: creds.NewSecret(pw)}, "service principal"},
		{"SPN with realm", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/x@EXAMPLE.TEST"}, "without realm"},
		{"realm conflict", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice@A.TEST", Realm: "B.TEST", Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "not in realm"},
		{"no krb5.conf, no KDCs", bootstrap.KerberosConfig{Realm: "EXAMPLE.TEST", Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "KDC addresses"},
		{"realm with newline", bootstrap.KerberosConfig{Realm: "A\n[realms]", KDCs: []string{"kdc"}, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "realm"},
		{"bad KDC address", bootstrap.KerberosConfig{Realm: "EXAMPLE.TEST", KDCs: []string{"kdc }"}, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "KDC address"},
		{"missing krb5.conf", bootstrap.KerberosConfig{Krb5Conf: conf + ".none", Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/x"}, "krb5.conf"},
		{"missing keytab", bootstrap.KerberosConfig{Krb5Conf: conf, Principal: "alice", KeytabFile: conf + ".kt", SPN: "HTTP/x"}, "keytab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bootstrap.NewKerberos(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatal("password in the error")
			}
		})
	}
	// Valid forms: the realm from krb5.conf, from the principal, or given
	// with the KDCs; the password stays out of every rendering.
	for _, c := range []bootstrap.KerberosConfig{
		{Krb5Conf: conf, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/svc"},
		{Krb5Conf: conf, Principal: "alice@EXAMPLE.TEST", Password: creds.NewSecret(pw), SPN: "HTTP/svc"},
		{Realm: "EXAMPLE.TEST", KDCs: []string{"kdc.example.test", "10.0.0.1:750"}, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/svc"},
	} {
		krb, err := bootstrap.NewKerberos(c)
		if err != nil {
			t.Fatalf("%+v: %v", c.Principal, err)
		}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("bootstrap", "b", krb)
		for _, s := range []string{krb.String(), fmt.Sprintf("%v %+v %#v", krb, krb, krb), logged.String()} {
			if strings.Contains(s, pw) || !strings.Contains(s, "kerberos alice@EXAMPLE.TEST for HTTP/svc") {
				t.Fatalf("rendering %q", s)
			}
		}
		if krb.Kind() != "kerberos" {
			t.Fatalf("kind %q", krb.Kind())
		}
		krb.Close()
	}
}

func krbSecureOptions() secure.Options { return secure.Options{Now: time.Now} }

// BenchmarkEstablishKerberos times the establishment of a fresh context
// with the Kerberos bootstrap against the built-in server over loopback
// TLS and a real KDC, measured as scbench measures the other bootstraps:
// a new endpoint per establishment, the connection and the service ticket
// from a first, unmeasured one. Each establishment builds a new AP-REQ
// (a fresh authenticator and subkey) that the server checks against its
// keytab and replay cache. It reports the median and 99th percentile as
// p50-ms and p99-ms.
func BenchmarkEstablishKerberos(b *testing.B) {
	r := newKrbRig(b)
	krb := r.kerberosFor(b, "password")
	ctx := context.Background()
	establish := func() time.Duration {
		ep, sp := pooled(b, r.config(krb), true)
		start := time.Now()
		sc, err := ep.Context(ctx, krbWire)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sc.Identifier() == "" {
			b.Fatal("established a context without an identifier")
		}
		sp.Close(ctx)
		return took
	}
	establish()
	before := r.srv.Stats().Issued
	var took []time.Duration
	for b.Loop() {
		took = append(took, establish())
	}
	if got := r.srv.Stats().Issued - before; got != len(took) {
		b.Fatalf("the server issued %d contexts for %d establishments", got, len(took))
	}
	b.ReportMetric(float64(bench.Percentile(took, 50))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(bench.Percentile(took, 99))/float64(time.Millisecond), "p99-ms")
}
