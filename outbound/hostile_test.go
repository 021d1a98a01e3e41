package outbound_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The hostile corpus: testdata/hostile holds one file per attack and a
// manifest (README.md) whose table says how each case is sent and what
// must come back. The cases too large to commit are made by generators
// below, which the manifest names as "generated".

const hostileDir = "../testdata/hostile"

// Budgets of one hostile request: a clear answer within
// hostileTime, and at most hostileAllocFactor times the request's size
// (plus hostileAllocSlack) allocated on top of what the same path costs
// for a small request: a refusal for refused cases, a forwarded echo for
// forwarded ones (the in-process built-in server's share included).
const (
	hostileTime        = 10 * time.Millisecond
	hostileAllocFactor = 4
	// hostileAllocSlack is what answering costs whatever the request's
	// size, beyond the baseline: a fault naming the problem at length,
	// the headers read before the failure.
	hostileAllocSlack = 16 << 10
)

// corpusCase is one row of the manifest.
type corpusCase struct {
	name    string
	source  string // a file in hostileDir, or "generated"
	attacks string
	send    sendSpec
	expect  expectation
}

// sendSpec is how a case's body is sent (the manifest's "sent as").
type sendSpec struct {
	contentType, soapAction string
	chunked                 bool
	method, target, host    string
	origin                  string
}

// expectation is what the application must get back.
type expectation struct {
	status int
	// code is the local name of scproxy's subcode; "service" for the
	// upstream's own fault passed on, "echo" for a forwarded success.
	code string
}

func (e expectation) forwarded() bool { return e.code == "service" || e.code == "echo" }

// readManifest parses the table of testdata/hostile/README.md.
func readManifest(t *testing.T) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join(hostileDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| case") || strings.HasPrefix(line, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("manifest row with %d cells, want 5: %s", len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		c := corpusCase{name: cells[0], source: cells[1], attacks: cells[2]}
		if c.send, err = parseSendSpec(cells[3]); err != nil {
			t.Fatalf("case %s: %v", c.name, err)
		}
		if c.expect, err = parseExpectation(cells[4]); err != nil {
			t.Fatalf("case %s: %v", c.name, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// parseSendSpec reads "soap11", "soap12" or "ct=<content type>", then any
// of "action=", "chunked", "method=", "target=", "host=", "origin=",
// separated by ", ".
func parseSendSpec(s string) (sendSpec, error) {
	sp := sendSpec{method: http.MethodPost, target: "/", host: "127.0.0.1:8780"}
	for i, tok := range strings.Split(s, ", ") {
		key, val, _ := strings.Cut(tok, "=")
		switch {
		case i == 0 && tok == "soap11":
			sp.contentType, sp.soapAction = "text/xml; charset=utf-8", `"`+echoAction+`"`
		case i == 0 && tok == "soap12":
			sp.contentType = `application/soap+xml; charset=utf-8; action="` + echoAction + `"`
		case i == 0 && key == "ct":
			sp.contentType = val
		case i == 0:
			return sp, fmt.Errorf("sent as %q: start with soap11, soap12 or ct=", s)
		case tok == "chunked":
			sp.chunked = true
		case key == "action":
			sp.soapAction = val
		case key == "method":
			sp.method = val
		case key == "target":
			sp.target = val
		case key == "host":
			sp.host = val
		case key == "origin":
			sp.origin = val
		default:
			return sp, fmt.Errorf("sent as %q: unknown %q", s, tok)
		}
	}
	return sp, nil
}

// parseExpectation reads "<status> <Subcode|service|echo>".
func parseExpectation(s string) (expectation, error) {
	st, code, ok := strings.Cut(s, " ")
	n, err := strconv.Atoi(st)
	if !ok || err != nil {
		return expectation{}, fmt.Errorf("expect %q: want \"<status> <code>\"", s)
	}
	return expectation{status: n, code: code}, nil
}

// request builds the case's HTTP request around body.
func (sp sendSpec) request(body []byte) *http.Request {
	var r io.Reader = bytes.NewReader(body)
	if sp.chunked {
		r = io.MultiReader(r) // hides the length
	}
	req := httptest.NewRequest(sp.method, sp.target, r)
	req.Host = sp.host
	req.RemoteAddr = "127.0.0.1:40000" // a local application, as the listener sees one
	if sp.chunked {
		req.ContentLength = -1
	}
	if sp.contentType != "" {
		req.Header.Set("Content-Type", sp.contentType)
	}
	if sp.soapAction != "" {
		req.Header.Set("SOAPAction", sp.soapAction)
	}
	if sp.origin != "" {
		req.Header.Set("Origin", sp.origin)
	}
	return req
}

// Generated cases: too large to commit, made here.
var hostileGenerators = map[string]func() []byte{
	"deep-100k-header":     func() []byte { return envelope11(nestedXML(100_000), echoPayload("x")) },
	"deep-100k-body":       func() []byte { return envelope11("", nestedXML(100_000)) },
	"attrs-100k-header":    func() []byte { return withHeaderBlock(attrsXML(100_000)) },
	"attrs-100k-envelope":  func() []byte { return withEnvelopeAttrs(attrsXML(100_000)) },
	"attrs-100k-body":      func() []byte { return envelope11("", `<EchoString xmlns="http://tempuri.org/"`+attrsXML(100_000)+`/>`) },
	"nsdecls-100k-header":  func() []byte { return withHeaderBlock(declsXML(100_000)) },
	"nsdecls-nested-max":   func() []byte { return envelope11(nestedDecls(120, 32), echoPayload("x")) },
	"elements-100k-header": func() []byte { return envelope11(siblingsXML(100_001), echoPayload("x")) },
	"attr-10mib-header":    func() []byte { return withHeaderBlock(bigAttr(10 << 20)) },
	"attr-10mib-chunked":   func() []byte { return withHeaderBlock(bigAttr(10 << 20)) },
	"attr-3mib-header":     func() []byte { return withHeaderBlock(bigAttr(3 << 20)) },
	"body-20mib":           func() []byte { return envelope11("", echoPayload(strings.Repeat("B", 20<<20))) },
	"body-20mib-chunked":   func() []byte { return envelope11("", echoPayload(strings.Repeat("B", 20<<20))) },
}

// withHeaderBlock is an echo request with one header block carrying
// attrs.
func withHeaderBlock(attrs string) []byte {
	return envelope11(`<h:x xmlns:h="urn:h"`+attrs+`/>`, echoPayload("x"))
}

// withEnvelopeAttrs is an echo request whose Envelope carries attrs.
func withEnvelopeAttrs(attrs string) []byte {
	return bytes.Replace(envelope11("", echoPayload("x")), []byte("<soap:Envelope "), []byte("<soap:Envelope"+attrs+" "), 1)
}

func bigAttr(n int) string { return ` h:a="` + strings.Repeat("A", n) + `"` }

func siblingsXML(n int) string {
	return `<h:x xmlns:h="urn:h">` + strings.Repeat("<h:e/>", n) + `</h:x>`
}

// envelope11 is a SOAP 1.1 envelope with a Header holding header (none
// when empty) and a Body holding payload.
func envelope11(header, payload string) []byte {
	return []byte(envelope(soap.V11, header, payload))
}

func nestedXML(depth int) string {
	return `<d:n xmlns:d="urn:deep">` + strings.Repeat("<d:n>", depth-1) + strings.Repeat("</d:n>", depth)
}

func attrsXML(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` a%d="v"`, i)
	}
	return b.String()
}

func declsXML(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:p%d"`, i, i)
	}
	return b.String()
}

// nestedDecls nests depth header elements each declaring perElement
// prefixes, every limit respected, and leaves them unclosed: the flood is
// read to the end before the document is found malformed.
func nestedDecls(depth, perElement int) string {
	var b strings.Builder
	for d := range depth {
		b.WriteString("<h:x")
		for i := range perElement {
			fmt.Fprintf(&b, ` xmlns:p%d="urn:%d:%d"`, i, d, i)
		}
		if d == 0 {
			b.WriteString(` xmlns:h="urn:h"`)
		}
		b.WriteString(">")
	}
	return b.String()
}

// caseBody returns the body of a case: its file or its generator's.
func caseBody(t *testing.T, c corpusCase) []byte {
	t.Helper()
	if c.source == "generated" {
		gen, ok := hostileGenerators[c.name]
		if !ok {
			t.Fatalf("case %s: no generator", c.name)
		}
		return gen()
	}
	b, err := os.ReadFile(filepath.Join(hostileDir, c.source))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canary collects everything a proxy logs, at debug level, as text and
// as JSON, and checks that the bootstrap password shows in none of it nor
// in any answer or status document it was shown.
type canary struct {
	logs testkit.LogBuffer
	mu   sync.Mutex
	seen []string
}

func newCanary(t testing.TB) *canary {
	c := &canary{}
	t.Cleanup(func() { c.check(t) })
	return c
}

// logger is a debug-level logger writing text and JSON lines.
func (c *canary) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewMultiHandler(slog.NewTextHandler(&c.logs, opts), slog.NewJSONHandler(&c.logs, opts)))
}

// show records an answer the application received.
func (c *canary) show(status int, h http.Header, body []byte) {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\n", status)
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	b.Write(body)
	c.mu.Lock()
	c.seen = append(c.seen, b.String())
	c.mu.Unlock()
}

// secretForms are the ways the password could leak: as is (JSON and XML
// escaping leave its letters, digits and dashes alone), and in base64, as
// a binary token or a Basic header would carry it.
func secretForms() []string {
	return []string{
		testPassword,
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword)),
	}
}

func (c *canary) check(t testing.TB) {
	t.Helper()
	logs := c.logs.String()
	if logs == "" {
		t.Errorf("canary: nothing was logged; the check saw no log output")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range secretForms() {
		if strings.Contains(logs, s) {
			t.Errorf("canary: the bootstrap password (%q form) is in the log", s[:4])
		}
		for _, a := range c.seen {
			if strings.Contains(a, s) {
				t.Errorf("canary: the bootstrap password reached the application:\n%.600s", a)
			}
		}
	}
}

// directProxy is a proxy called through ServeHTTP, without a listener, so
// that one request can be timed and its allocations counted alone.
type directProxy struct {
	p      *outbound.Proxy
	up     *quietUpstream
	canary *canary
}

func newDirectProxy(t testing.TB, cfg outbound.Config) *directProxy {
	t.Helper()
	d := &directProxy{up: newQuietUpstream(t), canary: newCanary(t)}
	cfg.Routes = routes(d.up.url(t))
	cfg.RootCAs = d.up.srv.CertPool()
	cfg.Bootstrap = session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	cfg.Logger = d.canary.logger()
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	d.p = p
	return d
}

// quietUpstream is the built-in server on its own TLS listener, which
// keeps the bodies it receives only while told to, so that measurements
// count what the server does and not a test's copies.
type quietUpstream struct {
	srv    *scserver.Server
	ts     *httptest.Server
	record atomic.Bool
	n      atomic.Int64 // requests received

	mu     sync.Mutex
	bodies [][]byte
}

func newQuietUpstream(t testing.TB) *quietUpstream {
	t.Helper()
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{testUser: testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	u := &quietUpstream{srv: srv}
	u.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.n.Add(1)
		if u.record.Load() {
			b, _ := io.ReadAll(r.Body)
			u.mu.Lock()
			u.bodies = append(u.bodies, b)
			u.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		srv.ServeHTTP(w, r)
	}))
	u.ts.TLS = srv.TLSConfig()
	u.ts.StartTLS()
	t.Cleanup(func() { u.ts.Close(); srv.Close() })
	return u
}

func (u *quietUpstream) url(t testing.TB) *url.URL {
	t.Helper()
	v, err := url.Parse(u.ts.URL + "/Echo.svc")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// recorded returns the bodies kept since the last call and stops keeping
// them.
func (u *quietUpstream) recorded() [][]byte {
	u.record.Store(false)
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.bodies
	u.bodies = nil
	return b
}

// serve runs one request and records what the application saw.
func (d *directProxy) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	d.p.ServeHTTP(rec, req)
	d.canary.show(rec.Code, rec.Header(), rec.Body.Bytes())
	return rec
}

// cost is one measured request.
type cost struct {
	took  time.Duration
	alloc uint64
}

// measure serves the request mk builds and returns the answer, the time
// taken and the bytes allocated meanwhile (by the whole process: the
// in-process upstream's share included for a forwarded request).
func (d *directProxy) measure(mk func() *http.Request) (*httptest.ResponseRecorder, cost) {
	req, rec := mk(), httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	d.p.ServeHTTP(rec, req)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	d.canary.show(rec.Code, rec.Header(), rec.Body.Bytes())
	return rec, cost{took: took, alloc: after.TotalAlloc - before.TotalAlloc}
}

// measureRuns measures n runs and returns the last answer and the median
// time and allocation (other goroutines of the process, idle connections
// being closed say, can add to a single run's count).
func (d *directProxy) measureRuns(n int, mk func() *http.Request) (*httptest.ResponseRecorder, cost) {
	var rec *httptest.ResponseRecorder
	times := make([]time.Duration, 0, n)
	allocs := make([]uint64, 0, n)
	// One collection before the runs, not one before each: a collection
	// empties the sync.Pools of net/http and crypto/tls, whose refilling
	// would add tens of KB to a forwarded request at random.
	runtime.GC()
	for range n {
		var c cost
		rec, c = d.measure(mk)
		times = append(times, c.took)
		allocs = append(allocs, c.alloc)
	}
	slices.Sort(times)
	slices.Sort(allocs)
	return rec, cost{took: times[len(times)/2], alloc: allocs[len(allocs)/2]}
}

// wantGood checks that a normal request still gets its echo.
func (d *directProxy) wantGood(t testing.TB, text string) {
	t.Helper()
	rec := d.serve(hostileGood(text))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<echo>"+text+"</echo>") {
		t.Fatalf("a normal request after the case: HTTP %d\n%.500s", rec.Code, rec.Body.String())
	}
}

// hostileGood is a normal SOAP 1.1 echo request.
func hostileGood(text string) *http.Request {
	sp, _ := parseSendSpec("soap11")
	return sp.request(envelope11("", echoPayload(text)))
}

// TestHostileCorpus sends every case of the corpus to a proxy, one at a
// time: each gets the answer the manifest states (a fault of scproxy's
// own, refused before anything is sent upstream, or the service's own
// fault passed on when the hostile part is in the Body scproxy forwards
// unread), and the proxy then serves a normal request. The bootstrap
// password appears in no answer and no log line. The budgets, an answer
// within hostileTime (median of several runs) allocating at most
// hostileAllocFactor times its size beyond what the same path costs for a
// small request, are logged, and checked in the budget mode
// (testkit.Budgets).
func TestHostileCorpus(t *testing.T) {
	cases := readManifest(t)
	if len(cases) < 40 {
		t.Errorf("the manifest lists %d cases, want at least 40", len(cases))
	}
	checkCorpusFiles(t, cases)
	d := newDirectProxy(t, outbound.Config{})
	d.wantGood(t, "warm-up") // the context is established outside the measurements
	baseline := map[bool]uint64{}
	for _, fwd := range []bool{false, true} {
		_, c := d.measureRuns(15, func() *http.Request {
			if fwd {
				return hostileGood("baseline")
			}
			sp, _ := parseSendSpec("soap11")
			return sp.request([]byte("<"))
		})
		baseline[fwd] = c.alloc
	}
	t.Logf("baseline allocation: refused %d B, forwarded %d B", baseline[false], baseline[true])

	var worst struct {
		took, ratio       float64
		tookName, ratioOf string
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := caseBody(t, c)
			mk := func() *http.Request { return c.send.request(body) }
			d.up.record.Store(true)
			before := d.up.n.Load()
			checkAnswer(t, c, d.serve(mk()))
			checkForwarding(t, c, d.up.recorded(), d.up.n.Load()-before)

			runs := 7
			if len(body) > 4<<20 {
				runs = 3
			}
			before = d.up.n.Load()
			rec, m := d.measureRuns(runs, mk)
			if got, want := d.up.n.Load()-before, int64(runs); c.expect.forwarded() && got != want || !c.expect.forwarded() && got != 0 {
				t.Errorf("the upstream received %d requests in %d runs", got, runs)
			}
			if rec.Code != c.expect.status {
				t.Errorf("measured runs answered HTTP %d, want %d", rec.Code, c.expect.status)
			}
			net := int64(m.alloc) - int64(baseline[c.expect.forwarded()])
			ratio := float64(max(net, 0)) / float64(max(len(body), 1))
			t.Logf("%-34s %9d B in %9s median %10d B allocated (%+9d B net, %6.2f× size) HTTP %d",
				c.name, len(body), m.took.Round(time.Microsecond), m.alloc, net, ratio, rec.Code)
			testkit.Budget(t, "answer time (median of the runs)", m.took, hostileTime*raceSlack)
			factor := hostileAllocFactor * min(raceSlack, 2)
			testkit.Budget(t, "bytes allocated beyond the baseline", net, int64(factor*len(body)+hostileAllocSlack*raceSlack))
			if s := m.took.Seconds(); s > worst.took {
				worst.took, worst.tookName = s, c.name
			}
			if len(body) >= 64<<10 && ratio > worst.ratio {
				worst.ratio, worst.ratioOf = ratio, c.name
			}
			d.wantGood(t, "after-"+c.name)
		})
	}
	t.Logf("%d cases; slowest %s (%.3f ms median); largest net allocation per input byte among cases of 64 KiB or more: %s (%.2f×)",
		len(cases), worst.tookName, worst.took*1e3, worst.ratioOf, worst.ratio)
	d.showStatus(t)
}

// showStatus fetches the status document, as `scproxy status` does, and
// shows it to the canary.
func (d *directProxy) showStatus(t testing.TB) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, outbound.StatusPath, nil)
	req.Host, req.RemoteAddr = "127.0.0.1:8780", "127.0.0.1:40000"
	if rec := d.serve(req); rec.Code != http.StatusOK {
		t.Errorf("status: HTTP %d", rec.Code)
	}
}

// checkCorpusFiles: every file of the corpus is in the manifest and
// every case has its file or generator.
func checkCorpusFiles(t *testing.T, cases []corpusCase) {
	t.Helper()
	listed := map[string]bool{}
	for _, c := range cases {
		listed[c.source] = true
		if c.source == "generated" {
			if hostileGenerators[c.name] == nil {
				t.Errorf("case %s is generated but has no generator", c.name)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(hostileDir, c.source)); err != nil {
			t.Errorf("case %s: %v", c.name, err)
		}
	}
	entries, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "README.md" && !listed[e.Name()] {
			t.Errorf("%s is in the corpus directory but no case of the manifest uses it", e.Name())
		}
	}
	for name := range hostileGenerators {
		if !slices.ContainsFunc(cases, func(c corpusCase) bool { return c.name == name }) {
			t.Errorf("generator %s has no case in the manifest", name)
		}
	}
}

// checkAnswer compares an answer with the case's expectation.
func checkAnswer(t *testing.T, c corpusCase, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != c.expect.status {
		t.Errorf("HTTP %d, want %d:\n%.800s", rec.Code, c.expect.status, rec.Body.String())
	}
	env, err := soap.Parse(rec.Body.Bytes(), xmldoc.DefaultLimits)
	if err != nil {
		t.Fatalf("the answer is not SOAP: %v\n%.800s", err, rec.Body.String())
	}
	f, err := env.Fault()
	if c.expect.code == "echo" {
		if err != nil || f != nil {
			t.Errorf("a fault (%v), want the echo:\n%.800s", err, rec.Body.String())
		}
		return
	}
	if err != nil || f == nil {
		t.Fatalf("the answer is not a fault (%v):\n%.800s", err, rec.Body.String())
	}
	if f.Reason == "" {
		t.Errorf("the fault gives no reason")
	}
	own := hasProxyCode(f)
	switch {
	case c.expect.code == "service" && own:
		t.Errorf("fault %v %v is scproxy's, want the service's own", f.Code, f.Subcodes)
	case c.expect.code != "service" && !f.Has(xmldoc.Name{Space: outbound.NSFault, Local: c.expect.code}):
		t.Errorf("fault codes %v %v, want %s: %s", f.Code, f.Subcodes, c.expect.code, f.Reason)
	}
}

// checkForwarding: a case refused by scproxy reaches nobody; a forwarded
// one reaches the upstream once, carrying exactly one Security header,
// scproxy's.
func checkForwarding(t *testing.T, c corpusCase, bodies [][]byte, n int64) {
	t.Helper()
	if !c.expect.forwarded() {
		if n != 0 {
			t.Errorf("the upstream received %d requests for a refused case, want none", n)
		}
		return
	}
	if n != 1 || len(bodies) != 1 {
		t.Fatalf("the upstream received %d requests (%d recorded) for one forwarded case", n, len(bodies))
	}
	if got := topLevelSecurity(bodies[0]); got != 1 {
		t.Errorf("the upstream received %d top-level Security headers, want scproxy's alone", got)
	}
}

// topLevelSecurity counts the Security header blocks of an envelope,
// reading it only up to its Body; -1 when it cannot be read.
func topLevelSecurity(b []byte) int {
	m, err := splice.Read(b, splice.Options{})
	if err != nil || m.Env.Header == nil {
		return -1
	}
	return len(xmldoc.Children(m.Env.Header, wss.NameSecurity))
}
