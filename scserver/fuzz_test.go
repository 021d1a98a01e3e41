package scserver

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/scproxy/scproxy/internal/kdctest"
	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The fuzz server runs at the CoreWCF capture's time with key material
// that is the same in every process: the fuzzer runs the target in
// several worker processes, and a seed signed for one process's fresh
// keys would be refused by the others before any deep check. Every seed
// under testdata/fuzz/FuzzServeHTTP was made for this server.
const (
	fuzzAudience = "https://svc.fuzz.test/service"
	fuzzSPN      = "HTTP/svc.fuzz.test"
	// fuzzServicePassword derives the fuzz service's Kerberos key (gokrb5
	// makes the keytab from it, no KDC involved). Test-only.
	fuzzServicePassword = "fuzz-only service password"
	// fuzzIssuer is the Issuer of the seeds' SAML assertion.
	fuzzIssuer = "urn:scproxy:fuzz:issuer"
	monoKeys   = vectors + "mono/keys/"
)

// fuzzTime is the fuzz server's clock.
var fuzzTime = coreAppTime

// fuzzParties are the fuzz server's fixed parties, on the test-only keys
// of the Mono vectors: a CA that is also the trusted SAML issuer, and a
// client (certificate from that CA) that is also the relying party the
// assertions' proof keys are encrypted to. The certificates are made here
// with fixed contents; RSA PKCS #1 v1.5 signatures are deterministic, so
// they are byte for byte the same in every process, as the thumbprint
// naming the relying party must be.
type fuzzParties struct {
	caKey, clientKey *rsa.PrivateKey
	ca, client       *x509.Certificate
	keytab           *keytab.Keytab
}

func loadFuzzParties(tb testing.TB) *fuzzParties {
	tb.Helper()
	p := &fuzzParties{caKey: readRSAKey(tb, monoKeys+"server.key"), clientKey: readRSAKey(tb, monoKeys+"client.key")}
	p.ca = fixedCert(tb, 1, "scproxy fuzz CA and token issuer", nil, p.caKey, p.caKey)
	p.client = fixedCert(tb, 2, "scproxy fuzz client and relying party", p.ca, p.clientKey, p.caKey)
	p.keytab = keytab.New()
	if err := p.keytab.AddEntry(fuzzSPN, kdctest.Realm, fuzzServicePassword, fuzzTime, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		tb.Fatal(err)
	}
	return p
}

func readRSAKey(tb testing.TB, path string) *rsa.PrivateKey {
	tb.Helper()
	block, _ := pem.Decode(readFile(tb, path))
	if block == nil {
		tb.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		tb.Fatalf("%s: a %T, not an RSA key", path, k)
	}
	return key
}

// fixedCert makes a certificate whose every field is fixed (serial,
// validity around fuzzTime), self-signed when parent is nil.
func fixedCert(tb testing.TB, serial int64, cn string, parent *x509.Certificate, key, signer *rsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    fuzzTime.AddDate(-1, 0, 0),
		NotAfter:     fuzzTime.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// newFuzzServer is the server FuzzServeHTTP posts to: every bootstrap on
// (the test user, X.509 from the fuzz CA, SAML assertions of the fuzz
// issuer, Kerberos tickets for fuzzSPN), the token service on, the
// CoreWCF context known, a 64 KiB limit.
func newFuzzServer(tb testing.TB, p *fuzzParties) *Server {
	tb.Helper()
	acceptor, err := NewKerberosAcceptor(p.keytab, fuzzSPN)
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	srv, err := New(Config{
		Now: func() time.Time { return fuzzTime }, Rand: &detRand{}, PlainHTTP: true,
		Users: map[string]string{testUser: testPassword}, TrustedCAs: roots, Kerberos: acceptor,
		IssueTokens: true, TrustedIssuers: []*x509.Certificate{p.ca}, Audiences: []string{fuzzAudience},
		Limits: xmldoc.Limits{MaxBytes: 64 << 10},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	// New made a fresh relying-party key, which no committed seed's proof
	// key is encrypted to; the fixed one replaces it before any request.
	srv.tokens.key, srv.tokens.cert = p.clientKey, p.client
	restoreCoreContext(tb, srv)
	return srv
}

// restoreCoreContext puts the CoreWCF capture's context back as captured
// when a request cancelled or renewed it, so that the seeds signed with
// it keep reaching the signature checks.
func restoreCoreContext(tb testing.TB, srv *Server) {
	tb.Helper()
	key := b64(tb, coreKey)
	srv.store.mu.Lock()
	s, ok := srv.store.m[coreIdentifier]
	intact := ok && !s.Cancelled && s.Instance == "" && bytes.Equal(s.Key, key) && s.PrevKey == nil
	if ok && !intact {
		delete(srv.store.m, coreIdentifier)
	}
	srv.store.mu.Unlock()
	if intact {
		return
	}
	if err := srv.AddContext(ContextSpec{Identifier: coreIdentifier, Version: wssc.Feb2005, Key: key, Created: coreAppTime}); err != nil {
		tb.Fatal(err)
	}
}

// FuzzServeHTTP posts arbitrary bodies as SOAP 1.1 or 1.2 to a server
// with every bootstrap enabled. The seeds (testdata/fuzz/FuzzServeHTTP)
// include a valid request of each kind, made for this server by
// TestFuzzServeHTTPSeeds: Issue bootstrapped with a UsernameToken (text
// and digest), an X.509 signature, a SAML assertion and a Kerberos
// AP-REQ, a token service request, application messages signed with the
// CoreWCF context and with a certificate, a Cancel. Whatever comes in,
// checkServeAnswer's properties hold.
func FuzzServeHTTP(f *testing.F) {
	srv := newFuzzServer(f, loadFuzzParties(f))
	f.Fuzz(func(t *testing.T, body []byte, soap12 bool) {
		restoreCoreContext(t, srv)
		checkServeAnswer(t, srv, body, soap12)
	})
}

// serveCounts are the server's counters that every request moves.
type serveCounts struct {
	requests, rejected, faults, done int
}

// countsOf reads the counters without copying the per-context map (which
// grows with every context a fuzzing run issues).
func countsOf(srv *Server) serveCounts {
	srv.stats.mu.Lock()
	defer srv.stats.mu.Unlock()
	s := &srv.stats.s
	c := serveCounts{requests: s.Requests, rejected: s.Rejected, done: s.Issued + s.Renewed + s.Cancelled + s.Verified + s.TokensIssued}
	for _, n := range s.Faults {
		c.faults += n
	}
	return c
}

// checkServeAnswer posts body and checks the answer: a SOAP envelope in
// the version the content type announced, with that version's content
// type; status 200 and no fault, or a fault with a 4xx or 5xx status;
// the request counted once, as one operation done or one fault; a fault
// that repeats no secret of the request (password, key entropy, Kerberos
// token). It returns the answer.
func checkServeAnswer(t *testing.T, srv *Server, body []byte, soap12 bool) *httptest.ResponseRecorder {
	t.Helper()
	v := soap.V11
	if soap12 {
		v = soap.V12
	}
	req := httptest.NewRequest(http.MethodPost, "/service", bytes.NewReader(body))
	req.Header.Set("Content-Type", v.MediaType()+"; charset=utf-8")
	rec := httptest.NewRecorder()
	before := countsOf(srv)
	srv.ServeHTTP(rec, req)
	after := countsOf(srv)
	env, err := soap.Parse(rec.Body.Bytes(), xmldoc.Limits{})
	if err != nil {
		t.Fatalf("status %d, reply is not SOAP: %v\n%s", rec.Code, err, rec.Body.Bytes())
	}
	if env.Version != v || rec.Header().Get("Content-Type") != v.MediaType()+"; charset=utf-8" {
		t.Fatalf("a %s request answered in %s as %q", v, env.Version, rec.Header().Get("Content-Type"))
	}
	fault, err := env.Fault()
	if err != nil {
		t.Fatalf("malformed fault: %v", err)
	}
	want := serveCounts{requests: before.requests + 1, rejected: before.rejected, faults: before.faults, done: before.done + 1}
	switch {
	case fault == nil && rec.Code != http.StatusOK, fault != nil && (rec.Code < 400 || rec.Code > 599):
		t.Fatalf("status %d with fault %v", rec.Code, fault)
	case fault != nil:
		want.rejected, want.faults, want.done = before.rejected+1, before.faults+1, before.done
		if s := leakedSecret(rec.Body.Bytes(), body); s != "" {
			t.Fatalf("the fault repeats the request's secret %q:\n%s", s, rec.Body.Bytes())
		}
	}
	if after != want {
		t.Fatalf("status %d: counters went from %+v to %+v, want %+v", rec.Code, before, after, want)
	}
	return rec
}

// leakedSecret returns a secret of the request (a password, a
// BinarySecret, the content of a Kerberos token; 16 characters or more)
// that the answer contains although the request holds it nowhere else,
// or "".
func leakedSecret(answer, request []byte) string {
	d, err := xmldoc.Parse(request, xmldoc.Options{})
	if err != nil {
		return ""
	}
	var secrets []string
	xmldoc.Walk(d.Root(), func(el *etree.Element) {
		if el.Tag == "Password" || el.Tag == "BinarySecret" || wss.IsKerberosToken(el) {
			if s := strings.TrimSpace(el.Text()); len(s) >= 16 {
				secrets = append(secrets, s)
			}
		}
	})
	for _, s := range secrets {
		held := 0
		for _, o := range secrets {
			held += strings.Count(o, s)
		}
		if bytes.Contains(answer, []byte(s)) && bytes.Count(request, []byte(s)) <= held {
			return s
		}
	}
	return ""
}

// writeFuzzSeedsEnv, set to 1, makes TestFuzzServeHTTPSeeds write the
// seeds before checking them.
const writeFuzzSeedsEnv = "SCPROXY_WRITE_FUZZ_SEEDS"

// serveSeed is one seed of FuzzServeHTTP; valid ones are accepted.
type serveSeed struct {
	name   string
	body   []byte
	soap12 bool
}

// TestFuzzServeHTTPSeeds checks the committed seeds of FuzzServeHTTP: on
// a fresh fuzz server each "valid-" seed is accepted (so the fuzzer
// starts from inside each path, past every signature and credential
// check) and every seed's answer has checkServeAnswer's properties.
// SCPROXY_WRITE_FUZZ_SEEDS=1 first writes the seeds anew.
func TestFuzzServeHTTPSeeds(t *testing.T) {
	p := loadFuzzParties(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzServeHTTP")
	if os.Getenv(writeFuzzSeedsEnv) == "1" {
		for _, s := range makeServeSeeds(t, p) {
			writeFuzzSeed(t, dir, s)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (%s=1 writes the seeds)", err, writeFuzzSeedsEnv)
	}
	valid := 0
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			s := readFuzzSeed(t, filepath.Join(dir, e.Name()))
			rec := checkServeAnswer(t, newFuzzServer(t, p), s.body, s.soap12)
			if strings.HasPrefix(e.Name(), "valid-") && rec.Code != http.StatusOK {
				t.Fatalf("a valid seed refused (made for another server? %s=1 writes them anew):\n%s", writeFuzzSeedsEnv, rec.Body.Bytes())
			}
		})
		if strings.HasPrefix(e.Name(), "valid-") {
			valid++
		}
	}
	if valid < 9 {
		t.Fatalf("%d valid seeds, want one of each kind (9)", valid)
	}
}

// makeServeSeeds builds the seeds with the server tests' own helpers,
// for the fuzz server's parties and clock.
func makeServeSeeds(t *testing.T, p *fuzzParties) []serveSeed {
	h := &harness{t: t, clock: newClock(fuzzTime), pki: &testPKI{good: p.client, goodKey: p.clientKey}}
	entropy := bytes.Repeat([]byte{0x5a}, 32)
	echo := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, messageID: "urn:uuid:00000000-0000-4000-8000-0000000000ee", body: echoBody}
	token := msg{soap: soap.V12, wsa: wsa.V10, action: saml.IssueAction(wssc.V1_3), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000bb",
		security: timestamp(fuzzTime, 5*time.Minute) + usernameToken(testUser, testPassword, false, fuzzTime),
		body:     tokenRSTXML(wssc.V1_3, saml.TokenTypeSAML20, entropy, fuzzAudience)}
	seeds := []serveSeed{
		{"valid-issue-username", h.issueMessage(wssc.V1_3, soap.V12, wsa.V10, bootUsername, entropy, fuzzTime), true},
		{"valid-issue-digest-soap11", h.issueMessage(wssc.Feb2005, soap.V11, wsa.V200408, bootDigest, nil, fuzzTime), false},
		{"valid-issue-x509", h.issueMessage(wssc.Feb2005, soap.V12, wsa.V10, bootX509, entropy, fuzzTime), true},
		{"valid-issue-saml", samlSeed(t, h, p), true},
		{"valid-issue-kerberos", kerberosSeed(t, p), true},
		{"valid-token-request", []byte(token.xml()), true},
		{"valid-echo-x509", x509Signed(t, echo, p.client, p.clientKey, fuzzTime), true},
		{"not-soap", []byte("<not soap"), false},
	}
	for _, v := range []struct{ path, name string }{
		{"corewcf/app-request.xml", "valid-corewcf-app-request"},
		{"corewcf/cancel-request.xml", "valid-corewcf-cancel-request"},
		{"wss4j/wss4j-sct-dksign-sc200512.xml", "wss4j-sct-dksign-sc200512"},
		{"corewcf/issue-request.pretty.xml", "corewcf-issue-request.pretty"},
	} {
		seeds = append(seeds, serveSeed{v.name, readFile(t, vectors+v.path), true})
	}
	return seeds
}

// samlSeed is an Issue request bootstrapped with an assertion of the fuzz
// issuer whose proof key is encrypted to the fuzz relying party.
func samlSeed(t *testing.T, h *harness, p *fuzzParties) []byte {
	proof := bytes.Repeat([]byte{0x7e}, 32)
	a, err := saml.Build(saml.Template{
		ID: "_f0221e55", Issuer: fuzzIssuer, Subject: testUser, IssueInstant: fuzzTime, NotBefore: fuzzTime,
		NotOnOrAfter: fuzzTime.Add(time.Hour), Audience: fuzzAudience, ProofKey: proof, Recipient: p.client,
	}, saml.IssuerKey{Key: p.caKey, Cert: p.ca}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h.samlIssueMessage(samlIssue{security: string(xmldoc.Serialize(a)), key: proof, keyID: "_f0221e55"})
}

// kerberosSeed is an Issue request bootstrapped with an AP-REQ for
// fuzzSPN: the ticket made with gokrb5 from the fuzz keytab, as a KDC
// would have issued it at fuzzTime.
func kerberosSeed(t *testing.T, p *fuzzParties) []byte {
	spn, _ := types.ParseSPNString(fuzzSPN)
	user := "alice"
	tkt, key, err := messages.NewTicket(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user), kdctest.Realm, spn, kdctest.Realm,
		types.NewKrbFlags(), p.keytab, etypeID.AES256_CTS_HMAC_SHA1_96, 1, fuzzTime, fuzzTime, fuzzTime.Add(10*time.Hour), fuzzTime.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fx := &krbFixture{kdc: &kdctest.KDC{Realm: kdctest.Realm, User: user}, tkt: tkt, key: key}
	return fx.issue(t, fuzzTime, krbSpec{})
}

// writeFuzzSeed writes s in the go test fuzz v1 format.
func writeFuzzSeed(t *testing.T, dir string, s serveSeed) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", s.body, s.soap12)
	if err := os.WriteFile(filepath.Join(dir, s.name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFuzzSeed reads a seed writeFuzzSeed wrote (or the fuzzer, in the
// same format).
func readFuzzSeed(t *testing.T, path string) serveSeed {
	lines := strings.Split(strings.TrimSpace(string(readFile(t, path))), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !slices.Contains([]string{"bool(true)", "bool(false)"}, lines[2]) {
		t.Fatalf("%s is not a FuzzServeHTTP seed", path)
	}
	body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return serveSeed{name: filepath.Base(path), body: []byte(body), soap12: lines[2] == "bool(true)"}
}
