package outbound_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// propertyRequests is how many random requests TestRoutesAreTheOnlyWayOut
// sends; SCPROXY_PROPERTY_N overrides it, SCPROXY_PROPERTY_SEED replays a
// run.
const propertyRequests = 1500

// TestRoutesAreTheOnlyWayOut sends random requests, with request targets
// of every form (origin, absolute, authority, asterisk) built from the
// pieces that confuse routers (dot segments, escapes, backslashes,
// userinfo, other hosts and ports, the upstreams' own hosts with other
// paths), to a proxy with two routes, while two servers nobody routes to
// listen on loopback. Property: the proxy dials nothing but the two
// upstreams' addresses (every dial is seen before any name is resolved,
// so a forward to attacker.example counts as surely as one to a decoy);
// nothing reaches the decoys; every request an upstream receives is for
// a path at or under its configured one; and every answer is either the
// forwarded answer (as many as the upstreams received) or a refusal
// before forwarding (scproxy's 4xx fault, net/http's refusal of a
// malformed request line). With both upstreams healthy, a 5xx, such as
// UpstreamUnreachable, can only be a request sent where it should not
// have gone.
func TestRoutesAreTheOnlyWayOut(t *testing.T) {
	n := envInt(t, "SCPROXY_PROPERTY_N", propertyRequests)
	seed := uint64(envInt(t, "SCPROXY_PROPERTY_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (SCPROXY_PROPERTY_SEED=%d replays this run)", seed, seed)

	upA := newUpstream(t, scserver.Config{})
	upB := newUpstream(t, scserver.Config{})
	aURL, bURL := upA.url(t, "/Echo.svc"), upB.url(t, "/Svc/Deep.svc")
	dials := &dialRecorder{}
	// Checked once the proxy has stopped, so that the cancels it sends on
	// shutdown are seen too.
	t.Cleanup(func() {
		for addr, k := range dials.byAddr() {
			if addr != aURL.Host && addr != bURL.Host {
				t.Errorf("the proxy dialed %s %d times; only %s and %s are configured", addr, k, aURL.Host, bURL.Host)
			}
		}
	})
	px := startRecordedProxy(t, outbound.Config{
		Routes:  []outbound.Route{{Prefix: "/a", Upstream: aURL, Endpoints: []string{"/x", "/op", "/v1"}}, {Prefix: "/b/deep", Upstream: bURL}},
		RootCAs: upA.pool(), // both httptest servers share one certificate
		Logger:  newCanary(t).logger(),
	}, dials)
	// A decoy counts connections, not requests: a TLS handshake refused
	// by scproxy's client would never reach a handler.
	var decoyHits atomic.Int64
	decoy := func(tls bool) string {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				decoyHits.Add(1)
			}
		}
		if tls {
			s.StartTLS()
		} else {
			s.Start()
		}
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
	g := &targetGen{
		r:     rand.New(rand.NewPCG(seed, 0x5c)),
		hosts: []string{aURL.Host, bURL.Host, decoy(true), decoy(false), strings.TrimPrefix(px.base, "http://")},
		paths: []string{aURL.Path, bURL.Path},
	}

	counts, described := map[string]int{}, 0
	for range n {
		req := g.request()
		status, code := sendRaw(t, px.base, req)
		counts[fmt.Sprintf("%d %s", status, code)]++
		if descriptionRead(req, status, code) {
			described++ // reached the upstream: the WSDL pass-through's GET
		} else if !refusedOrForwarded(status, code) {
			t.Errorf("%s %s (Host %s): HTTP %d %s, neither forwarded nor refused before forwarding", req.method, req.target, req.host, status, code)
		}
	}
	if hits := decoyHits.Load(); hits != 0 {
		t.Errorf("servers outside the configured upstreams received %d connections", hits)
	}
	forwarded := 0
	for _, up := range []struct {
		rig  *upstreamRig
		path string
	}{{upA, aURL.Path}, {upB, bURL.Path}} {
		for _, m := range up.rig.appOnly() {
			forwarded++
			if !underPath(m.uri, up.path) {
				t.Errorf("an upstream configured for %s received %q", up.path, m.uri)
			}
		}
	}
	var lines []string
	for k, v := range counts {
		lines = append(lines, fmt.Sprintf("%6d × %s", v, k))
	}
	sort.Strings(lines)
	t.Logf("%d random requests; %d reached a configured upstream (under its path), %d connections reached anything else; dials %v:\n%s",
		n, forwarded, decoyHits.Load(), dials.byAddr(), strings.Join(lines, "\n"))
	if counts["200 "]+described != forwarded {
		t.Errorf("%d answers of 200 for %d requests the upstreams received", counts["200 "], forwarded)
	}
	if forwarded == 0 || counts["404 NoRoute"] == 0 {
		t.Errorf("the generator made no request of one kind (forwarded %d, refused for no route %d): it tests nothing", forwarded, counts["404 NoRoute"])
	}
}

// refusedOrForwarded reports whether an outcome of sendRaw is a
// forwarded answer (200 from the healthy upstreams) or a refusal made
// before anything was forwarded: net/http's, or scproxy's 4xx fault.
// UpstreamUnreachable and every other 5xx mean the proxy tried to go
// somewhere.
func refusedOrForwarded(status int, code string) bool {
	switch {
	case status == http.StatusOK && code == "", code == "net/http":
		return true
	case code == outbound.CodeUnreachable.Local:
		return false
	}
	return status >= 400 && status < 500 && slices.Contains([]string{
		outbound.CodeNoRoute.Local, outbound.CodeForbidden.Local, outbound.CodeBadRequest.Local,
		outbound.CodeTooLarge.Local, outbound.CodeMethodNotAllow.Local,
	}, code)
}

// dialRecorder dials for the proxy and counts the addresses it was asked
// for.
type dialRecorder struct {
	mu    sync.Mutex
	addrs map[string]int
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.addrs == nil {
		d.addrs = map[string]int{}
	}
	d.addrs[addr]++
	d.mu.Unlock()
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
}

// byAddr returns how often each address was dialed.
func (d *dialRecorder) byAddr() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.addrs)
}

// startRecordedProxy serves a proxy for cfg (with the test user, on
// loopback) whose every upstream connection is made by dials.
func startRecordedProxy(t *testing.T, cfg outbound.Config, dials *dialRecorder) *proxyRig {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Bootstrap = session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outbound.DialUpstreamsWith(p, dials.dial)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp := &proxyRig{p: p, base: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { sp.done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if _, err := sp.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sp
}

// underPath reports whether a request URI's path is path or below it,
// without a dot segment, ";", NUL or backslash.
func underPath(uri, path string) bool {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return false
	}
	p := u.EscapedPath()
	if p != path && !strings.HasPrefix(p, path+"/") {
		return false
	}
	unescaped, err := url.PathUnescape(p)
	if err != nil || strings.ContainsAny(unescaped, "\\;\x00") {
		return false
	}
	for _, seg := range strings.Split(unescaped, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// envInt reads an integer from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// targetGen makes random requests from pieces that confuse routers.
type targetGen struct {
	r     *rand.Rand
	hosts []string // the upstreams (as paths), decoys and the proxy itself
	paths []string // the upstreams' paths
}

// rawRequest is a request line and Host header to send as they are.
type rawRequest struct {
	method, target, host string
}

var (
	segments = []string{"x", "op", "v1", "a", "b", "deep", "Echo.svc", "Svc", "Deep.svc", "Admin.svc", "..", ".", "%2e%2e", "%2E", ".%2e",
		"%2f", "%2F..", "%5c", "\\", "..\\..", "", "x;y", "%00", "%252e%252e", "%3f", "@", "a%20b", "~", "é",
		"..;", ".;", "%2e%2e;", "%2e%2e%3b", "..;x=1", "%3b", ";"}
	schemes = []string{"http", "https", "HTTP", "ftp", "file", "gopher", "ws"}
	methods = []string{"POST", "POST", "POST", "POST", "POST", "POST", "GET", "PUT", "OPTIONS", "CONNECT", "DELETE", "TRACE"}
	others  = []string{"attacker.example", "127.0.0.1:1", "localhost", "[::1]", "169.254.169.254", "0x7f.0.0.1", "2130706433", "127.0.0.1.", "evil.example:443"}
)

func (g *targetGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *targetGen) path() string {
	var b strings.Builder
	switch g.r.IntN(8) {
	case 0, 1, 2:
		b.WriteString(g.pick([]string{"/a", "/b/deep", "/b/deep"}))
	case 3, 4:
		b.WriteString(g.pick(g.paths))
	case 5:
		b.WriteString("/" + g.pick([]string{"b", "a/..", "A", "b/deep/..", "aa", "b/deeper"}))
	}
	for range g.r.IntN(4) {
		b.WriteString("/" + g.pick(segments))
	}
	if b.Len() == 0 || g.r.IntN(8) == 0 {
		b.WriteString("/")
	}
	if g.r.IntN(6) == 0 {
		b.WriteString("?" + g.pick([]string{"wsdl", "x=../..", "u=http://attacker.example/", "%2e%2e"}))
	}
	if g.r.IntN(12) == 0 {
		b.WriteString("#frag")
	}
	return b.String()
}

func (g *targetGen) host() string {
	if g.r.IntN(3) == 0 {
		return g.pick(others)
	}
	h := g.pick(g.hosts)
	switch g.r.IntN(6) {
	case 0:
		return strings.ToUpper(h)
	case 1:
		return "user:pass@" + h
	case 2:
		return strings.Replace(h, "127.0.0.1", "localhost", 1)
	}
	return h
}

// request makes a request of a random form: authority, asterisk,
// absolute (an upstream's own address among others) or origin.
func (g *targetGen) request() rawRequest {
	rq := rawRequest{method: g.pick(methods), host: g.pick([]string{"127.0.0.1", "localhost", "[::1]", "127.0.0.1", g.host()})}
	switch g.r.IntN(10) {
	case 0:
		rq.target = g.host() // authority form
	case 1:
		rq.target = "*"
	case 2, 3:
		rq.target = g.pick(schemes) + "://" + g.host() + g.path()
	case 4:
		i := g.r.IntN(len(g.paths)) // an upstream's own address, as an HTTP proxy's client sends it
		rq.target = g.pick([]string{"http", "https"}) + "://" + g.hosts[i] + g.paths[i]
		if g.r.IntN(3) == 0 {
			rq.target += "?wsdl"
		}
	default:
		rq.target = g.path()
	}
	if g.r.IntN(10) == 0 {
		rq.target = "//" + g.host() + g.path() // scheme-relative, origin-form lookalike
	}
	return rq
}

// sendRaw writes req on a new connection to the proxy with a SOAP 1.1
// echo body and returns the status and scproxy's fault subcode ("" for
// a success, "-" when the answer is not scproxy's SOAP, "net/http" when
// net/http refused the request line itself).
func sendRaw(t *testing.T, base string, req rawRequest) (int, string) {
	t.Helper()
	body := envelope(soap.V11, "", echoPayload("property"))
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"%s\"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		req.method, req.target, req.host, echoAction, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: req.method})
	if err != nil {
		t.Fatalf("%s %s (Host %s): no answer: %v", req.method, req.target, req.host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.method, req.target, err)
	}
	if strings.Contains(string(b), testPassword) {
		t.Errorf("%s %s: the bootstrap password reached the application", req.method, req.target)
	}
	env, err := soap.Parse(b, xmldoc.DefaultLimits)
	if err != nil {
		if resp.StatusCode == http.StatusBadRequest && resp.Header.Get("Content-Type") == "text/plain; charset=utf-8" {
			return resp.StatusCode, "net/http"
		}
		t.Errorf("%s %s (Host %s): HTTP %d, not SOAP: %.300s", req.method, req.target, req.host, resp.StatusCode, b)
		return resp.StatusCode, "-"
	}
	f, err := env.Fault()
	if err != nil || f == nil {
		return resp.StatusCode, ""
	}
	for _, c := range f.Subcodes {
		if c.Space == outbound.NSFault {
			return resp.StatusCode, c.Local
		}
	}
	if f.Code.Space == outbound.NSFault {
		return resp.StatusCode, f.Code.Local
	}
	return resp.StatusCode, "service:" + f.Code.Local
}
