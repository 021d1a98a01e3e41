package bootstrap_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	tokenUser     = "alice"
	tokenPassword = "canary-Issued-P4ssw0rd"
)

// clock is a settable clock shared by the server, the endpoints and the
// bootstrap.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// exchange is one request to the server and its answer.
type exchange struct {
	action    string
	req, resp []byte
}

// stsRig is a scserver issuing tokens and contexts over real TLS, behind a
// recorder of every exchange, and the logs of everything involved.
type stsRig struct {
	srv    *scserver.Server
	svc    *url.URL // the service endpoint, the tokens' audience
	client *upstream.Client
	clock  *clock

	mu   sync.Mutex
	seen []exchange

	logs testkit.LogBuffer // text and JSON lines of server, endpoints and bootstrap
	log  *slog.Logger
}

// logText returns what was logged so far.
func (r *stsRig) logText() string {
	return r.logs.String()
}

// newSTSRig starts the server with mod applied to its configuration; the
// token lifetime is one hour.
func newSTSRig(t *testing.T, mod func(*scserver.Config)) *stsRig {
	t.Helper()
	r := &stsRig{clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}
	r.log = slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))
	ts := httptest.NewUnstartedServer(http.HandlerFunc(r.record))
	r.svc, _ = url.Parse("https://" + ts.Listener.Addr().String() + "/svc")
	cfg := scserver.Config{
		PlainHTTP: true, IssueTokens: true, Users: map[string]string{tokenUser: tokenPassword},
		Audiences: []string{r.svc.String()}, Lifetime: time.Hour, Now: r.clock.Now, Logger: r.log,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	ts.StartTLS()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	r.client = upstream.New(upstream.Config{RootCAs: pool})
	return r
}

// record serves a request with the scserver and keeps both bodies.
func (r *stsRig) record(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	r.srv.ServeHTTP(rec, req)
	_, action, _ := soap.ActionFromHTTP(req.Header.Get("Content-Type"), req.Header.Get("SOAPAction"))
	r.mu.Lock()
	r.seen = append(r.seen, exchange{action: action, req: body, resp: rec.Body.Bytes()})
	r.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// sent returns the exchanges with action.
func (r *stsRig) sent(action string) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, e := range r.seen {
		if e.action == action {
			out = append(out, e)
		}
	}
	return out
}

// sts returns a bootstrap fetching tokens for the service from the rig.
func (r *stsRig) sts(t *testing.T, mod func(*bootstrap.TokenSTS)) *bootstrap.IssuedToken {
	t.Helper()
	u, _ := url.Parse(r.svc.String())
	u.Path = "/Token.svc"
	cfg := bootstrap.TokenSTS{
		URL: u, Version: wssc.V1_3, Username: tokenUser, Password: creds.NewSecret(tokenPassword), AppliesTo: r.svc.String(),
		Client: r.client, Now: r.clock.Now, Logger: r.log, Timeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	tok, err := bootstrap.NewIssuedTokenFromSTS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// endpoint returns a session endpoint for path at the rig's server.
func (r *stsRig) endpoint(t *testing.T, path string, b session.Bootstrap) *session.Endpoint {
	t.Helper()
	ep, err := session.New(r.config(path, b))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func (r *stsRig) config(path string, b session.Bootstrap) session.Config {
	u, _ := url.Parse(r.svc.String())
	u.Path = path
	return session.Config{URL: u, Version: wssc.V1_3, Bootstrap: b, Client: r.client, Timeout: 5 * time.Second, Now: r.clock.Now, Logger: r.log}
}

// pooled returns an endpoint for cfg in a pool of its own, which closes
// it (and cancels its contexts unless keep).
func pooled(t testing.TB, cfg session.Config, keep bool) (*session.Endpoint, *session.Pool) {
	t.Helper()
	sp := session.NewPool(session.PoolConfig{KeepContexts: keep})
	t.Cleanup(func() { sp.Close(context.Background()) })
	ep, err := sp.Endpoint(cfg.URL.String(), func() session.Config { return cfg })
	if err != nil {
		t.Fatal(err)
	}
	return ep, sp
}

var wire12 = session.Wire{SOAP: soap.V12, Addressing: wsa.V10}

// lifecycle establishes, renews and cancels a context with ep, which sp
// holds.
func lifecycle(t *testing.T, ep *session.Endpoint, sp *session.Pool) {
	t.Helper()
	ctx := context.Background()
	c, err := ep.Context(ctx, wire12)
	if err != nil {
		t.Fatalf("establish: %v", err)
	}
	renewed, err := ep.Renew(ctx, c)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if renewed == c || renewed.Identifier() != c.Identifier() {
		t.Fatalf("renewal gave %v after %v", renewed, c)
	}
	if err := sp.Close(ctx); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}

func TestIssuedTokenFromSTSEstablishesRenewsCancels(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			r := newSTSRig(t, nil)
			tok := r.sts(t, func(s *bootstrap.TokenSTS) { s.Version = v })
			ep, sp := pooled(t, r.config("/svc", tok), false)
			lifecycle(t, ep, sp)
			st := r.srv.Stats()
			if st.TokensIssued != 1 || st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 || st.Rejected != 0 {
				t.Fatalf("server stats %+v", st)
			}
			if s := ep.Status(); s.Establishes != 1 || s.Renewals != 1 || s.Cancels != 1 || s.Bootstrap != "issued-token" {
				t.Fatalf("endpoint status %+v", s)
			}
			if tok.Fetches() != 1 {
				t.Fatalf("%d fetches", tok.Fetches())
			}
			// The assertion travels from the STS's reply into the Issue
			// request byte for byte.
			fromSTS := tokenOfReply(t, r.sent(saml.IssueAction(v))[0].resp, v)
			inIssue := assertionOfRequest(t, r.sent(wssc.V1_3.Action(wssc.Issue))[0].req)
			if !bytes.Equal(fromSTS, inIssue) {
				t.Fatalf("the assertion changed on its way:\n%s\n%s", fromSTS, inIssue)
			}
		})
	}
}

// tokenOfReply returns the assertion's bytes in an STS reply.
func tokenOfReply(t *testing.T, raw []byte, v wssc.Version) []byte {
	t.Helper()
	env, err := soap.ParseWith(raw, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Payload()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := saml.ParseResponse(env.Doc, p, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Token.Bytes
}

// assertionOfRequest returns the assertion's bytes as they are in an
// Issue request's Security header.
func assertionOfRequest(t *testing.T, raw []byte) []byte {
	t.Helper()
	env, err := soap.ParseWith(raw, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	a, err := xmldoc.One(sec, saml.Name("Assertion"))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := env.Doc.Raw(a)
	if !ok {
		t.Fatal("no raw bytes")
	}
	return b
}

// testIssuer is an STS the test plays: an RSA key and its certificate.
type testIssuer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newTestIssuer(t *testing.T) testIssuer {
	t.Helper()
	key := testkit.Server().RSAKey()
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test STS"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	return testIssuer{key: key, cert: testkit.SelfSign(t, tmpl, key)}
}

// assertionFor builds a token for the rig's service, its proof key
// encrypted to the server, valid for lifetime from now (a negative
// lifetime makes a token that expired that long ago).
func (i testIssuer) assertionFor(t *testing.T, r *stsRig, proof []byte, lifetime time.Duration) []byte {
	t.Helper()
	now := r.clock.Now()
	from := now
	if lifetime < 0 {
		from = now.Add(lifetime - time.Hour)
	}
	a, err := saml.Build(saml.Template{
		ID: "_7f3c9e0a5b1d", Issuer: "https://sts.test/", Subject: "bob", IssueInstant: from, NotBefore: from, NotOnOrAfter: now.Add(lifetime),
		Audience: r.svc.String(), ProofKey: proof, Recipient: r.srv.IssuerCertificate(),
	}, saml.IssuerKey{Key: i.key, Cert: i.cert}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// With a declaration and single quotes, as a file from elsewhere may
	// be: the quotes do not change the canonical form, so the signature
	// holds, but a client that re-serialized the token would change them.
	return []byte("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + strings.Replace(string(xmldoc.Serialize(a)), `Version="2.0"`, `Version='2.0'`, 1) + "\n")
}

var testProof = []byte("canary-proof-key-32-bytes-long!!")

func TestIssuedTokenFromXMLEstablishes(t *testing.T) {
	issuer := newTestIssuer(t)
	r := newSTSRig(t, func(c *scserver.Config) { c.IssueTokens, c.TrustedIssuers = false, []*x509.Certificate{issuer.cert} })
	xmlToken := issuer.assertionFor(t, r, testProof, time.Hour)
	tok, err := bootstrap.NewIssuedTokenFromXML(xmlToken, proofSecret(testProof))
	if err != nil {
		t.Fatal(err)
	}
	ep, sp := pooled(t, r.config("/svc", tok), false)
	lifecycle(t, ep, sp)
	st := r.srv.Stats()
	if st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 || st.TokensIssued != 0 {
		t.Fatalf("server stats %+v", st)
	}
	sent := assertionOfRequest(t, r.sent(wssc.V1_3.Action(wssc.Issue))[0].req)
	if !bytes.Contains(xmlToken, sent) || !bytes.Contains(sent, []byte(`Version='2.0'`)) {
		t.Fatalf("the given token was not sent as given:\n%s", sent)
	}
	if !strings.Contains(r.logText(), `principal=saml:bob`) {
		t.Fatalf("server did not log the SAML principal:\n%s", r.logText())
	}
}

func TestIssuedTokenFromXMLRefuses(t *testing.T) {
	issuer := newTestIssuer(t)
	r := newSTSRig(t, func(c *scserver.Config) { c.IssueTokens, c.TrustedIssuers = false, []*x509.Certificate{issuer.cert} })
	valid := issuer.assertionFor(t, r, testProof, time.Hour)
	cases := []struct {
		name   string
		token  []byte
		key    []byte
		reason string // of NewIssuedTokenFromXML, or of the establishment
	}{
		{"not XML", []byte("not xml"), testProof, "issued token"},
		{"not an assertion", []byte(`<a/>`), testProof, "not a SAML assertion"},
		{"short proof key", valid, []byte("short"), "proof key"},
		{"wrong proof key", valid, []byte("another-proof-key-of-32-bytes!!!"), "FailedCheck"},
		{"expired", issuer.assertionFor(t, r, testProof, -time.Minute), testProof, "has expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := bootstrap.NewIssuedTokenFromXML(tc.token, proofSecret(tc.key))
			if err == nil {
				_, err = r.endpoint(t, "/svc", tok).Context(context.Background(), wire12)
				if fault := new(soap.Fault); errors.As(err, &fault) {
					err = fmt.Errorf("%w (%v)", err, fault.Subcodes)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want %q", err, tc.reason)
			}
			if strings.Contains(err.Error(), string(tc.key)) {
				t.Fatal("the proof key is in the error")
			}
		})
	}
}

func TestConcurrentEstablishmentsShareOneFetch(t *testing.T) {
	r := newSTSRig(t, func(c *scserver.Config) { c.Script = scserver.Script{Delay: 100 * time.Millisecond} })
	tok := r.sts(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		ep := r.endpoint(t, fmt.Sprintf("/svc/%d", i), tok)
		wg.Go(func() { _, errs[i] = ep.Context(context.Background(), wire12) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
	}
	if st := r.srv.Stats(); tok.Fetches() != 1 || st.TokensIssued != 1 || st.Issued != 16 {
		t.Fatalf("%d fetches, stats %+v", tok.Fetches(), st)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	r := newSTSRig(t, nil)
	tok := r.sts(t, nil)
	establish := func(n int) {
		t.Helper()
		if _, err := r.endpoint(t, fmt.Sprintf("/svc/%d", n), tok).Context(context.Background(), wire12); err != nil {
			t.Fatal(err)
		}
	}
	// The token lives an hour: it is kept until 6 minutes (a tenth) before
	// its end, then replaced, and replaced again once expired.
	steps := []struct {
		advance time.Duration
		fetches int64
	}{{0, 1}, {50 * time.Minute, 1}, {3 * time.Minute, 1}, {2 * time.Minute, 2}, {time.Hour + time.Minute, 3}}
	for i, s := range steps {
		r.clock.Advance(s.advance)
		establish(i)
		if got := tok.Fetches(); got != s.fetches {
			t.Fatalf("step %d (+%v): %d fetches, want %d", i, s.advance, got, s.fetches)
		}
	}
	if n := r.srv.Stats().Rejected; n != 0 {
		t.Fatalf("%d requests rejected: %v", n, r.srv.Stats().LastFailures)
	}
}

func TestFetchSurvivesImpatientCaller(t *testing.T) {
	r := newSTSRig(t, func(c *scserver.Config) { c.Script = scserver.Script{Delay: 300 * time.Millisecond} })
	tok := r.sts(t, nil)
	secureOnce := func(ctx context.Context) error {
		env := soap.NewEnvelope(soap.V12)
		_, err := tok.Secure(ctx, env, secure.Options{Now: r.clock.Now, Rand: rand.Reader})
		return err
	}
	impatient, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		done <- secureOnce(context.Background())
	}()
	if err := secureOnce(impatient); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if tok.Fetches() != 1 {
		t.Fatalf("%d fetches", tok.Fetches())
	}
}

func TestFetchFailures(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*bootstrap.TokenSTS)
		srv    func(*scserver.Config)
		reason string
	}{
		{"wrong password", func(s *bootstrap.TokenSTS) { s.Password = creds.NewSecret("canary-Wrong-P4ss") }, nil, "authentication failed"},
		{"token service off", nil, func(c *scserver.Config) { c.IssueTokens = false }, "ActionNotSupported"},
		{"version not served", func(s *bootstrap.TokenSTS) { s.Version = wssc.Feb2005 }, func(c *scserver.Config) { c.Versions = []wssc.Version{wssc.V1_3} }, "not enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSTSRig(t, tc.srv)
			tok := r.sts(t, tc.mod)
			ep := r.endpoint(t, "/svc", tok)
			for range 2 {
				_, err := ep.Context(context.Background(), wire12)
				var f *soap.Fault
				if !errors.As(err, &f) {
					t.Fatalf("error %v (%T), want the STS's fault", err, err)
				}
				if msg := err.Error() + " " + fmt.Sprint(f.Subcodes); !strings.Contains(msg, tc.reason) || !strings.Contains(msg, "Token.svc") {
					t.Fatalf("error %q does not say %q and name the STS", msg, tc.reason)
				}
			}
			if tok.Fetches() != 2 {
				t.Fatalf("%d fetches: a failure must not be remembered", tok.Fetches())
			}
		})
	}
}

// xmlsec runs xmlsec1 --verify with args on doc.
func xmlsec(t *testing.T, doc []byte, args ...string) (string, bool) {
	t.Helper()
	bin := oracle.Require(t, "xmlsec1")
	p := filepath.Join(t.TempDir(), "msg.xml")
	if err := os.WriteFile(p, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append(append([]string{"--verify"}, args...), p)...).CombinedOutput()
	return string(out), err == nil
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// xmlsec1 verifies both signatures of an Issue request bootstrapped with a
// fetched token: the issuer's over the assertion, with the server's issuer
// certificate, and the client's over the Timestamp and To, with the proof
// key; and refuses each with the wrong key.
func TestXMLSecVerifiesIssueRequest(t *testing.T) {
	r := newSTSRig(t, nil)
	tok := r.sts(t, nil)
	if _, err := r.endpoint(t, "/svc", tok).Context(context.Background(), wire12); err != nil {
		t.Fatal(err)
	}
	issue := r.sent(wssc.V1_3.Action(wssc.Issue))[0].req
	proof := proofKeyOf(t, r)
	certPEM := writeTemp(t, "issuer.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.IssuerCertificate().Raw}))
	assertion := []string{"--id-attr:ID", saml.NS + ":Assertion", "--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']"}
	if out, ok := xmlsec(t, issue, append([]string{"--pubkey-cert-pem", certPEM}, assertion...)...); !ok {
		t.Fatalf("xmlsec1 refused the assertion's signature:\n%s", out)
	}
	other := writeTemp(t, "other.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newTestIssuer(t).cert.Raw}))
	if out, ok := xmlsec(t, issue, append([]string{"--pubkey-cert-pem", other}, assertion...)...); ok {
		t.Fatalf("xmlsec1 accepted the assertion with another key:\n%s", out)
	}
	rst := []string{"--id-attr:Id", wss.NSWSU + ":Timestamp", "--id-attr:Id", wsa.NS10 + ":To", "--node-xpath", "/*/*[local-name()='Header']/*[local-name()='Security']/*[local-name()='Signature']"}
	if out, ok := xmlsec(t, issue, append([]string{"--hmackey", writeTemp(t, "proof.bin", proof)}, rst...)...); !ok || !strings.Contains(out, "References (ok/all): 2/2") {
		t.Fatalf("xmlsec1 refused the request's signature:\n%s\n%s", out, issue)
	}
	if out, ok := xmlsec(t, issue, append([]string{"--hmackey", writeTemp(t, "wrong.bin", testProof)}, rst...)...); ok {
		t.Fatalf("xmlsec1 accepted the request's signature with another key:\n%s", out)
	}
}

// proofKeyOf works out the proof key of the rig's first token exchange from
// the recorded request and reply, as an eavesdropper on the TLS session
// could: the client entropy and the server's.
func proofKeyOf(t *testing.T, r *stsRig) []byte {
	t.Helper()
	ex := r.sent(saml.IssueAction(wssc.V1_3))[0]
	req, err := soap.ParseWith(ex.req, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := req.Payload()
	if err != nil {
		t.Fatal(err)
	}
	rst, err := saml.ParseRequest(p, wssc.V1_3)
	if err != nil {
		t.Fatal(err)
	}
	env, err := soap.ParseWith(ex.resp, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = env.Payload(); err != nil {
		t.Fatal(err)
	}
	resp, err := saml.ParseResponse(env.Doc, p, wssc.V1_3)
	if err != nil {
		t.Fatal(err)
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Neither the proof key nor the password (nor, for a token given as XML,
// its issuer's private key) reaches any log line, at debug level, in text
// or JSON, any error, the endpoint's status or the bootstrap's printed
// forms.
func TestIssuedTokenSecretsNeverPrinted(t *testing.T) {
	issuer := newTestIssuer(t)
	r := newSTSRig(t, func(c *scserver.Config) { c.TrustedIssuers = []*x509.Certificate{issuer.cert} })
	var outs []string
	var eps []*session.Endpoint
	fetched := r.sts(t, nil)
	given, err := bootstrap.NewIssuedTokenFromXML(issuer.assertionFor(t, r, testProof, time.Hour), proofSecret(testProof))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range []*bootstrap.IssuedToken{fetched, given} {
		ep, sp := pooled(t, r.config(fmt.Sprintf("/svc/%d", i), b), false)
		lifecycle(t, ep, sp)
		eps = append(eps, ep)
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			outs = append(outs, fmt.Sprintf(f, b))
		}
		r.log.Info("bootstrap", "value", b, "any", any(b))
	}
	// Failures: a wrong password at the STS, a wrong proof key at the
	// service.
	bad := r.sts(t, func(s *bootstrap.TokenSTS) { s.Password = creds.NewSecret("canary-Wrong-P4ss") })
	wrongKey, err := bootstrap.NewIssuedTokenFromXML(issuer.assertionFor(t, r, testProof, time.Hour), proofSecret(bytes.Repeat([]byte{0xa7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range []*bootstrap.IssuedToken{bad, wrongKey} {
		ep := r.endpoint(t, fmt.Sprintf("/bad/%d", i), b)
		_, err := ep.Context(context.Background(), wire12)
		if err == nil {
			t.Fatal("a bad credential established a context")
		}
		outs = append(outs, err.Error())
		eps = append(eps, ep)
	}
	for _, ep := range eps {
		st, err := json.Marshal(ep.Status())
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(st))
	}
	outs = append(outs, r.logText(), fmt.Sprint(r.srv.Stats()))
	keyDER, err := x509.MarshalPKCS8PrivateKey(issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	canaries := map[string]string{"password": tokenPassword, "wrong password": "canary-Wrong-P4ss", "issuer key (DER base64)": base64.StdEncoding.EncodeToString(keyDER)[40:120],
		"issuer key (PEM)": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))[40:120]}
	for name, key := range map[string][]byte{"given proof key": testProof, "fetched proof key": proofKeyOf(t, r), "wrong proof key": bytes.Repeat([]byte{0xa7}, 32)} {
		canaries[name+" (raw)"] = string(key)
		canaries[name+" (base64)"] = base64.StdEncoding.EncodeToString(key)
		canaries[name+" (hex)"] = hex.EncodeToString(key)
		canaries[name+" (bytes)"] = strings.Trim(fmt.Sprint(key), "[]")
	}
	all := strings.Join(outs, "\n")
	for name, c := range canaries {
		if strings.Contains(all, c) {
			t.Errorf("the %s is printed", name)
		}
	}
	for _, want := range []string{"issued token from https://", `"issued-token"`, "token fetched", "saml:alice", "saml:bob"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q: the canary check would prove nothing", want)
		}
	}
}

// A SAML 1.1 token given as XML is presented as WSS4J and WCF present
// one: named by AssertionID with the SAML 1.1 token type, its bytes as
// given, the proof-key signature over the Timestamp and To.
func TestSecureWithSAML11Token(t *testing.T) {
	const src = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1" MinorVersion="1" AssertionID="_b11c" Issuer='https://sts.example/' IssueInstant="2025-06-01T12:00:00Z">` +
		`<saml:Conditions NotBefore="2025-06-01T12:00:00Z" NotOnOrAfter="2025-06-01T20:00:00Z"/></saml:Assertion>`
	tok, err := bootstrap.NewIssuedTokenFromXML([]byte(src), proofSecret(testProof))
	if err != nil {
		t.Fatal(err)
	}
	env := soap.NewEnvelope(soap.V11)
	env.Body.AddChild(etree.NewElement("Ping"))
	h, err := wsa.NewRequest(wsa.V200408, "urn:ping", "https://svc.example/", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddTo(env.EnsureHeader(), wsa.V200408); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC) }
	raw, err := tok.Secure(context.Background(), env, secure.Options{Now: now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(src)) {
		t.Fatalf("token not sent as given:\n%s", raw)
	}
	got, err := soap.ParseWith(raw, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := wss.FindSecurity(got.Header)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if err != nil {
		t.Fatal(err)
	}
	var str *wss.STR
	resolve := func(ki *etree.Element, method string) (dsig.VerifyingKey, error) {
		el, err := xmldoc.One(ki, wss.NameSecurityTokenReference)
		if err != nil {
			return nil, err
		}
		if str, err = wss.ParseSTR(el); err != nil {
			return nil, err
		}
		return dsig.HMACKey(method, testProof)
	}
	signed, err := dsig.Verify(got.Root, sig, resolve, dsig.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if str.TokenType != saml.TokenTypeSAML11 || str.KeyIdentifier == nil || str.KeyIdentifier.ValueType != wss.ValueTypeSAMLAssertionID || string(str.KeyIdentifier.Value) != "_b11c" {
		t.Errorf("reference %+v", str)
	}
	to, _ := xmldoc.One(got.Header, wsa.V200408.Name("To"))
	ts, _ := xmldoc.One(sec, wss.NameTimestamp)
	if err := signed.Require(map[string]*etree.Element{"Timestamp": ts, "To": to}); err != nil {
		t.Error(err)
	}
	if _, err := tok.Secure(context.Background(), got, secure.Options{Now: now}); !errors.Is(err, secure.ErrAlreadySecured) {
		t.Errorf("securing twice: %v", err)
	}
	late := func() time.Time { return time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC) }
	if _, err := tok.Secure(context.Background(), soap.NewEnvelope(soap.V11), secure.Options{Now: late}); !errors.Is(err, bootstrap.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
}

// BenchmarkSecureCachedToken is the cost of securing an Issue request
// once the token is held: the Security header, the token's bytes and one
// HMAC signature.
func BenchmarkSecureCachedToken(b *testing.B) {
	const src = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1" MinorVersion="1" AssertionID="_b11c" Issuer="https://sts.example/" IssueInstant="2025-06-01T12:00:00Z"/>`
	tok, err := bootstrap.NewIssuedTokenFromXML([]byte(src), proofSecret(testProof))
	if err != nil {
		b.Fatal(err)
	}
	o := secure.Options{Now: time.Now, Rand: rand.Reader}
	for b.Loop() {
		env := soap.NewEnvelope(soap.V12)
		h, _ := wsa.NewRequest(wsa.V10, wssc.V1_3.Action(wssc.Issue), "https://svc.example/", rand.Reader)
		h.AddTo(env.EnsureHeader(), wsa.V10)
		if _, err := tok.Secure(context.Background(), env, o); err != nil {
			b.Fatal(err)
		}
	}
}

// proofSecret is key as the command line hands it over: base64 in a
// creds.Secret.
func proofSecret(key []byte) creds.Secret {
	return creds.NewSecret(base64.StdEncoding.EncodeToString(key))
}
