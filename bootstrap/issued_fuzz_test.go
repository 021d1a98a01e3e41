package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The fuzzed token fetch: a fixed clock, user and service, and a
// deterministic random source, so that every fetch sends the same
// request (MessageID, client entropy) and a captured reply relates to it
// in every process.
const (
	fuzzUser     = "alice"
	fuzzPassword = "canary-Fuzz-STS-P4ssw0rd"
	fuzzService  = "https://svc.fuzz.test/service"
)

var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// countingRand is a deterministic byte stream: SHA-256 of a counter.
type countingRand struct {
	ctr uint64
	buf []byte
}

func (r *countingRand) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.ctr)
		r.ctr++
		h := sha256.Sum256(c[:])
		r.buf = append(r.buf, h[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fakeSTS answers every request with the answer stored last. It is
// reached in memory (upstream.Config.Transport), not over a socket: the
// client's every step from the request to the parsed answer is the
// exported path's, and the fuzzer runs thousands of fetches a second
// instead of paying a connection's costs for each.
type fakeSTS struct {
	url    *url.URL
	client *upstream.Client
	answer atomic.Pointer[stsAnswer]
}

// stsAnswer is what the fake STS answers; serve, when set, answers
// instead (the seed writer's real STS).
type stsAnswer struct {
	status      int
	contentType string
	body        []byte
	serve       http.Handler
}

func newFakeSTS() *fakeSTS {
	s := &fakeSTS{}
	s.url, _ = url.Parse("https://sts.fuzz.test/sts")
	s.client = upstream.New(upstream.Config{Transport: s})
	return s
}

// RoundTrip answers r with the stored answer.
func (s *fakeSTS) RoundTrip(r *http.Request) (*http.Response, error) {
	a := s.answer.Load()
	if a.serve != nil {
		return testkit.Upstream{Handler: a.serve}.RoundTrip(r)
	}
	rec := httptest.NewRecorder()
	_, _ = io.Copy(io.Discard, r.Body)
	rec.Header().Set("Content-Type", a.contentType)
	rec.WriteHeader(a.status)
	_, _ = rec.Write(a.body)
	return rec.Result(), nil
}

// secure makes a fresh IssuedToken fetch from the STS and secure a
// message, the exported path a proxy takes on its first request.
func (s *fakeSTS) secure(v wssc.Version) (*IssuedToken, []byte, error) {
	it, err := NewIssuedTokenFromSTS(TokenSTS{
		URL: s.url, Version: v, Username: fuzzUser, Password: creds.NewSecret(fuzzPassword), AppliesTo: fuzzService, Client: s.client,
		Timeout: 10 * time.Second, Limits: xmldoc.Limits{MaxBytes: 64 << 10},
		Now: func() time.Time { return fuzzNow }, Rand: &countingRand{},
	})
	if err != nil {
		return nil, nil, err
	}
	env := soap.NewEnvelope(soap.V12)
	env.Body.CreateElement("Ping").CreateAttr("xmlns", "urn:fuzz")
	out, err := it.Secure(context.Background(), env, secure.Options{Now: func() time.Time { return fuzzNow }, Rand: &countingRand{ctr: 1 << 32}})
	return it, out, err
}

// FuzzIssuedTokenReply makes a token STS answer the Issue request of an
// IssuedToken with arbitrary bytes, status, content type, in either
// WS-Trust version. Seeds (testdata/fuzz/FuzzIssuedTokenReply, written by
// TestFuzzIssuedTokenReplySeeds) are the built-in server's real answers:
// a token in each version and a fault. Whatever the STS answers,
// checkIssued's properties hold.
func FuzzIssuedTokenReply(f *testing.F) {
	sts := newFakeSTS()
	f.Fuzz(func(t *testing.T, body []byte, status uint16, contentType string, feb2005 bool) {
		// A final status (a handler's 1xx is sent as an interim answer),
		// and a header value net/http writes as given.
		if status < 200 || status > 599 {
			status = 200 + status%400
		}
		if strings.ContainsAny(contentType, "\r\n\x00") {
			return
		}
		sts.answer.Store(&stsAnswer{status: int(status), contentType: contentType, body: body})
		checkIssued(t, sts, body, feb2005)
	})
}

// checkIssued fetches a token from the STS and secures a message with it.
// Either it fails, with an error that holds no secret and no message, or:
// the proof key is of a size wire/keys accepts; the token is the STS's
// bytes unchanged, expires after now and is refreshed before it expires;
// the message is SOAP 1.2, carries the token byte for byte, and its
// signature verifies with the proof key and covers the Timestamp;
// neither the proof key nor the password is in it. It returns the token
// held, nil on failure.
func checkIssued(t *testing.T, sts *fakeSTS, answer []byte, feb2005 bool) *heldToken {
	t.Helper()
	v := wssc.V1_3
	if feb2005 {
		v = wssc.Feb2005
	}
	it, out, err := sts.secure(v)
	if it.Fetches() != 1 {
		t.Fatalf("%d fetches for one Secure", it.Fetches())
	}
	if err != nil {
		if out != nil || strings.Contains(err.Error(), fuzzPassword) {
			t.Fatalf("failed with %d bytes of output, or the password in the error: %v", len(out), err)
		}
		return nil
	}
	tok := it.held()
	key, raw := tok.cred.Key, tok.cred.Token.Bytes
	switch {
	case keys.CheckKeyBits(len(key)*8) != nil:
		t.Fatalf("a proof key of %d bytes", len(key))
	case !bytes.Contains(answer, raw):
		t.Fatalf("the token held is not in the STS's answer: %q", raw)
	case !tok.expires.After(fuzzNow) || !tok.refresh.Before(tok.expires):
		t.Fatalf("token expiring at %v held at %v, refreshed at %v", tok.expires, fuzzNow, tok.refresh)
	case !bytes.Contains(out, raw):
		t.Fatalf("the message does not carry the token as issued:\n%s", out)
	}
	for _, secret := range []string{fuzzPassword, base64.StdEncoding.EncodeToString(key), string(key)} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("the message holds the password or the proof key:\n%s", out)
		}
	}
	checkSignedWith(t, out, key)
	return tok
}

// checkSignedWith verifies the signature of a secured SOAP 1.2 message
// with key and requires it to cover the Security header's Timestamp.
func checkSignedWith(t *testing.T, msg, key []byte) {
	t.Helper()
	env, err := soap.Parse(msg, xmldoc.Limits{})
	if err != nil || env.Version != soap.V12 {
		t.Fatalf("the secured message is not SOAP 1.2 (%v):\n%s", err, msg)
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatalf("no Security header: %v", err)
	}
	sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := xmldoc.One(sec, wss.NameTimestamp)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(_ *etree.Element, m string) (dsig.VerifyingKey, error) { return dsig.HMACKey(m, key) }
	ver, err := dsig.Verify(env.Root, sig, resolve, dsig.DefaultPolicy)
	if err != nil || !ver.Covers(ts) {
		t.Fatalf("the signature does not verify with the proof key over the Timestamp (%v):\n%s", err, msg)
	}
}

// writeIssuedSeedsEnv, set to 1, makes TestFuzzIssuedTokenReplySeeds
// write the seeds before checking them.
const writeIssuedSeedsEnv = "SCPROXY_WRITE_FUZZ_SEEDS"

// issuedSeed is one seed of FuzzIssuedTokenReply.
type issuedSeed struct {
	body        []byte
	status      uint16
	contentType string
	feb2005     bool
}

// TestFuzzIssuedTokenReplySeeds checks the committed seeds of
// FuzzIssuedTokenReply: each "valid-" one yields a token (so the fuzzer
// starts from a reply the client accepts) and every one has checkIssued's
// properties. SCPROXY_WRITE_FUZZ_SEEDS=1 first captures them anew from
// the built-in server.
func TestFuzzIssuedTokenReplySeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzIssuedTokenReply")
	sts := newFakeSTS()
	if os.Getenv(writeIssuedSeedsEnv) == "1" {
		writeIssuedSeeds(t, sts, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (%s=1 writes the seeds)", err, writeIssuedSeedsEnv)
	}
	valid := 0
	for _, e := range entries {
		s := readIssuedSeed(t, filepath.Join(dir, e.Name()))
		sts.answer.Store(&stsAnswer{status: int(s.status), contentType: s.contentType, body: s.body})
		tok := checkIssued(t, sts, s.body, s.feb2005)
		if strings.HasPrefix(e.Name(), "valid-") {
			valid++
			if tok == nil {
				t.Errorf("%s: no token from a valid seed (%s=1 writes them anew)", e.Name(), writeIssuedSeedsEnv)
			}
		}
	}
	if valid != 2 {
		t.Fatalf("%d valid seeds, want one per WS-Trust version", valid)
	}
}

// writeIssuedSeeds records the built-in server's answers to the fuzzed
// fetch: a token in each version, and the fault for a wrong password.
func writeIssuedSeeds(t *testing.T, sts *fakeSTS, dir string) {
	for _, c := range []struct {
		name     string
		v        wssc.Version
		password string
	}{{"valid-token-1.3", wssc.V1_3, fuzzPassword}, {"valid-token-feb2005", wssc.Feb2005, fuzzPassword}, {"fault-wrong-password", wssc.V1_3, "not the password"}} {
		srv, err := scserver.New(scserver.Config{
			PlainHTTP: true, IssueTokens: true, Users: map[string]string{fuzzUser: c.password}, Audiences: []string{fuzzService},
			Lifetime: time.Hour, Now: func() time.Time { return fuzzNow }, Rand: &countingRand{ctr: 1 << 40},
		})
		if err != nil {
			t.Fatal(err)
		}
		// The fetch runs on the bootstrap's goroutine; secure returns after
		// it, so rec is complete when read.
		rec := httptest.NewRecorder()
		sts.answer.Store(&stsAnswer{serve: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			srv.ServeHTTP(rec, r)
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})})
		_, _, _ = sts.secure(c.v)
		srv.Close()
		s := issuedSeed{body: rec.Body.Bytes(), status: uint16(rec.Code), contentType: rec.Header().Get("Content-Type"), feb2005: c.v == wssc.Feb2005}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nstring(%q)\nbool(%v)\n", s.body, s.status, s.contentType, s.feb2005)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readIssuedSeed reads a seed in the go test fuzz v1 format.
func readIssuedSeed(t *testing.T, path string) issuedSeed {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	arg := func(i int, typ string) string {
		if len(lines) != 5 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[i], typ+"(") || !strings.HasSuffix(lines[i], ")") {
			t.Fatalf("%s is not a FuzzIssuedTokenReply seed", path)
		}
		return strings.TrimSuffix(strings.TrimPrefix(lines[i], typ+"("), ")")
	}
	body, err1 := strconv.Unquote(arg(1, "[]byte"))
	status, err2 := strconv.ParseUint(arg(2, "uint16"), 10, 16)
	ct, err3 := strconv.Unquote(arg(3, "string"))
	feb, err4 := strconv.ParseBool(arg(4, "bool"))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return issuedSeed{body: []byte(body), status: uint16(status), contentType: ct, feb2005: feb}
}
