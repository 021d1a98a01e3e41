package outbound_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// misbehaviour is what a faulty upstream does instead of answering.
type misbehaviour int32

const (
	behave           misbehaviour = iota
	resetMidResponse              // headers and half the body, then a TCP reset
	hang                          // never answers
	notHTTP                       // bytes that are not an HTTP response
	notXML                        // 200 text/xml that is not XML
	htmlPage                      // 200 text/html, as a proxy's error page
	tooLarge                      // a body over MaxBody
	truncatedFault                // 500 text/xml, half a SOAP fault
	plainDown                     // 503 text/plain, as a load balancer
	redirect                      // 302 elsewhere
	foreignToken                  // the real answer, carrying another context's token and a bogus signature
	canned                        // the answer set in canned
)

// cannedAnswer is an answer the test makes up.
type cannedAnswer struct {
	status      int
	contentType string
	body        []byte
}

// faultyUpstream is the built-in server behind a TLS listener that can be
// told to misbehave, separately for WS-Trust requests (the STS) and for
// application messages.
type faultyUpstream struct {
	srv      *scserver.Server
	ts       *httptest.Server
	sts, app atomic.Int32 // misbehaviour
	// only, when set, limits the misbehaviour to requests for this path.
	only string
	// canned is what the upstream answers under the canned misbehaviour.
	canned atomic.Pointer[cannedAnswer]
	// stsSeen and appSeen count the requests of each kind received.
	stsSeen, appSeen atomic.Int64
}

func newFaultyUpstream(t testing.TB) *faultyUpstream {
	t.Helper()
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{testUser: testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	u := &faultyUpstream{srv: srv}
	u.ts = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.ts.Config.ErrorLog = discardLog // the hijacked and reset connections are expected
	u.ts.StartTLS()
	t.Cleanup(func() { u.ts.Close(); srv.Close() })
	return u
}

func (u *faultyUpstream) url(t testing.TB, path string) *url.URL {
	t.Helper()
	v, err := url.Parse(u.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serve lets the built-in server answer, then passes the answer on or
// misbehaves as told for the request's kind.
func (u *faultyUpstream) serve(w http.ResponseWriter, r *http.Request) {
	mode := misbehaviour(u.app.Load())
	if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
		mode = misbehaviour(u.sts.Load())
		u.stsSeen.Add(1)
	} else {
		u.appSeen.Add(1)
	}
	if u.only != "" && r.URL.Path != u.only {
		mode = behave
	}
	rec := httptest.NewRecorder()
	u.srv.ServeHTTP(rec, r)
	answer := rec.Body.Bytes()
	switch mode {
	case behave, foreignToken:
		if mode == foreignToken {
			answer = withForeignToken(answer)
		}
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(answer)
	case resetMidResponse:
		conn := hijack(w)
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", rec.Header().Get("Content-Type"), len(answer), answer[:len(answer)/2])
		if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
			if c, ok := tc.NetConn().(*net.TCPConn); ok {
				_ = c.SetLinger(0) // close with RST
			}
		}
		conn.Close()
	case hang:
		<-r.Context().Done()
		// No answer at all once the wait ends: returning would send an
		// empty 200, which reads as the answer to a one-way operation.
		panic(http.ErrAbortHandler)
	case notHTTP:
		conn := hijack(w)
		_, _ = conn.Write([]byte("\x00\x01garbage, not HTTP\r\n\r\n"))
		conn.Close()
	case notXML:
		answerWith(w, http.StatusOK, "text/xml; charset=utf-8", []byte("this is not XML"))
	case htmlPage:
		answerWith(w, http.StatusBadGateway, "text/html", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	case tooLarge:
		answerWith(w, http.StatusOK, "text/xml; charset=utf-8", bytes.Repeat([]byte(" "), worldMaxBody+1))
	case truncatedFault:
		f, _ := soap.NewFault(soap.Receiver, "half a fault").Envelope(soap.V11)
		b := f.Bytes()
		answerWith(w, http.StatusInternalServerError, "text/xml; charset=utf-8", b[:len(b)/2])
	case plainDown:
		answerWith(w, http.StatusServiceUnavailable, "text/plain", []byte("Service Unavailable"))
	case redirect:
		w.Header().Set("Location", "https://attacker.example/collect")
		w.WriteHeader(http.StatusFound)
	case canned:
		a := u.canned.Load()
		answerWith(w, a.status, a.contentType, a.body)
	}
}

func answerWith(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// hijack takes the connection over, to write what is not HTTP or to
// reset it.
func hijack(w http.ResponseWriter) net.Conn {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // the test server is HTTP/1.1
	}
	return conn
}

// withForeignToken puts into an answer's Header a Security header holding
// another context's token, a Timestamp, and a signature that verifies
// nothing: what a confused or hostile service could send back.
func withForeignToken(env []byte) []byte {
	sec := `<o:Security xmlns:o="` + wss.NSWSSE + `" xmlns:u="` + wss.NSWSU + `">` +
		`<c:SecurityContextToken u:Id="other" xmlns:c="` + wssc.Feb2005.SC() + `"><c:Identifier>urn:uuid:someone-elses-context</c:Identifier></c:SecurityContextToken>` +
		`<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/><SignatureValue>AAAA</SignatureValue></Signature></o:Security>`
	s := string(env)
	switch {
	case strings.Contains(s, "<s:Header/>"):
		s = strings.Replace(s, "<s:Header/>", "<s:Header>"+sec+"</s:Header>", 1)
	case strings.Contains(s, "</s:Header>"):
		s = strings.Replace(s, "</s:Header>", sec+"</s:Header>", 1)
	default:
		s = strings.Replace(s, "<s:Body>", "<s:Header>"+sec+"</s:Header><s:Body>", 1)
	}
	return []byte(s)
}

// worldFault is one way the world fails an endpoint.
type worldFault struct {
	name string
	// sts and app are the misbehaviours of the faulty upstream.
	sts, app misbehaviour
	// target, when set, replaces the faulty upstream's URL (DNS, TLS).
	target func(t *testing.T, u *faultyUpstream) *url.URL
	status int
	code   xmldoc.Name
	words  []string
}

var worldFaults = []worldFault{
	{name: "answer reset mid-response", app: resetMidResponse, status: 502, code: outbound.CodeUnreachable, words: []string{"connection"}},
	{name: "answer hangs", app: hang, status: 504, code: outbound.CodeTimeout, words: []string{"timed out"}},
	{name: "answer not HTTP", app: notHTTP, status: 502, code: outbound.CodeUnreachable, words: []string{"malformed HTTP"}},
	{name: "answer not XML", app: notXML, status: 502, code: outbound.CodeBadResponse, words: []string{"malformed"}},
	{name: "answer an HTML page", app: htmlPage, status: 502, code: outbound.CodeBadResponse, words: []string{"text/html", "not SOAP"}},
	{name: "answer too large", app: tooLarge, status: 502, code: outbound.CodeBadResponse, words: []string{"larger than the limit"}},
	{name: "answer half a fault", app: truncatedFault, status: 502, code: outbound.CodeBadResponse, words: []string{"malformed"}},
	{name: "answer redirects", app: redirect, status: 502, code: outbound.CodeBadResponse, words: []string{"302"}},
	{name: "service down", app: plainDown, status: 502, code: outbound.CodeBadResponse, words: []string{"503", "text/plain"}},
	{name: "STS hangs", sts: hang, status: 504, code: outbound.CodeTimeout, words: []string{"establishing", "timed out"}},
	{name: "STS down", sts: plainDown, status: 502, code: outbound.CodeNoContext, words: []string{"establishing", "503"}},
	{name: "STS resets", sts: resetMidResponse, status: 502, code: outbound.CodeUnreachable, words: []string{"establishing"}},
	{name: "STS answers garbage", sts: notXML, status: 502, code: outbound.CodeNoContext, words: []string{"establishing"}},
	{name: "STS answers HTML", sts: htmlPage, status: 502, code: outbound.CodeNoContext, words: []string{"establishing"}},
	{name: "DNS fails", target: func(t *testing.T, _ *faultyUpstream) *url.URL {
		u, _ := url.Parse("https://scproxy-upstream.invalid/Echo.svc")
		return u
	}, status: 502, code: outbound.CodeUnreachable, words: []string{"scproxy-upstream.invalid"}},
	{name: "TLS to a plain HTTP server", target: func(t *testing.T, _ *faultyUpstream) *url.URL {
		s := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(s.Close)
		u, _ := url.Parse("https://" + s.Listener.Addr().String() + "/Echo.svc")
		return u
	}, status: 502, code: outbound.CodeUnreachable, words: []string{"HTTP response to HTTPS"}},
	{name: "TLS certificate for another name", target: func(t *testing.T, u *faultyUpstream) *url.URL {
		_, port, _ := net.SplitHostPort(u.ts.Listener.Addr().String())
		v, _ := url.Parse("https://localhost:" + port + "/Echo.svc")
		return v
	}, status: 502, code: outbound.CodeUntrusted, words: []string{"certificate"}},
}

// Timeouts of the proxies in the fault tests: long enough that a healthy
// call on a machine busy with other work (a second test run, load 10 on
// two cores, took over 700 ms) never meets them, short enough that the
// hung peers, which wait them out in parallel subtests, cost the test
// little.
const (
	worldUpstreamTimeout  = 5 * time.Second
	worldEstablishTimeout = 5 * time.Second
	// worldMaxBody is the proxies' body limit (small, so that an answer
	// over it is sent in time under the race detector).
	worldMaxBody = 64 << 10
)

// TestFaultsInTheWorld makes one endpoint's upstream fail in each way the
// network and a service can, while eight requests are in flight to it:
// each gets scproxy's fault naming the endpoint and the cause, with the
// right status; nothing panics; a second endpoint of the same proxy keeps
// answering every request meanwhile, about as fast as before; the
// failing endpoint works again once its upstream behaves; and the
// bootstrap password shows in no answer and no log line.
func TestFaultsInTheWorld(t *testing.T) {
	for _, tc := range worldFaults {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := newFaultyUpstream(t)
			bad.sts.Store(int32(tc.sts))
			bad.app.Store(int32(tc.app))
			badURL := bad.url(t, "/Echo.svc")
			if tc.target != nil {
				badURL = tc.target(t, bad)
			}
			good := newUpstream(t, scserver.Config{})
			c := newCanary(t)
			px := startProxy(t, outbound.Config{
				Routes:           []outbound.Route{{Prefix: "/bad", Upstream: badURL}, {Prefix: "/good", Upstream: good.url(t, "/Echo.svc")}},
				RootCAs:          good.pool(),
				UpstreamTimeout:  worldUpstreamTimeout,
				EstablishTimeout: worldEstablishTimeout,
				MaxBody:          worldMaxBody,
				Logger:           c.logger(),
			})
			app := newApp(t)
			before := goodLatency(t, app, px.base+"/good", "before")

			var wg sync.WaitGroup
			replies := make([]reply, 8)
			for i := range replies {
				wg.Go(func() {
					v := soap.Versions[i%2]
					req, _ := newRequest(http.MethodPost, px.base+"/bad", v, echoAction, envelope(v, "", echoPayload("bad")))
					r, err := app.do(nil, req)
					if err != nil {
						t.Errorf("request %d to the failing endpoint: %v", i, err)
					}
					replies[i] = r
				})
			}
			during := goodLatency(t, app, px.base+"/good", "during")
			wg.Wait()
			for i, r := range replies {
				if r.status != 0 {
					wantProxyFault(t, r, soap.Versions[i%2], tc.status, tc.code, append(tc.words, upstreamName(badURL))...)
				}
			}
			t.Logf("median latency of the healthy endpoint: %v before, %v while the other fails", before, during)
			testkit.Budget(t, "median latency of the healthy endpoint while the other fails", during, max(before, 12*time.Millisecond))
			if strings.Contains(c.logs.String(), "panic") {
				t.Errorf("a panic was logged:\n%s", c.logs.String())
			}
			for _, r := range replies {
				c.show(r.status, r.header, []byte(r.body))
			}
			st, err := json.Marshal(px.p.Status())
			if err != nil {
				t.Fatal(err)
			}
			c.show(http.StatusOK, nil, st) // the status names the last error
			if tc.target == nil {
				bad.sts.Store(int32(behave))
				bad.app.Store(int32(behave))
				waitRetry(t, px)
				wantEcho(t, app.post(px.base+"/bad", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("recovered"))), soap.V11, "recovered", false)
			}
		})
	}
}

// upstreamName is how scproxy's faults name an endpoint.
func upstreamName(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// goodLatency sends 20 echo requests one after the other to url and
// returns their median latency; every one must succeed.
func goodLatency(t *testing.T, app *appClient, url, tag string) time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := range 20 {
		text := fmt.Sprintf("%s-%d", tag, i)
		start := time.Now()
		r := app.post(url, soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text)))
		ds = append(ds, time.Since(start))
		wantEcho(t, r, soap.V11, text, false)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestForeignTokenInAnswer: the SC-over-TLS profile does not verify
// answers (TLS authenticates the service; WCF's TransportWithMessage
// Credential does not sign them either), so an answer whose Security
// header names another context and carries a signature that verifies
// nothing is passed on with that header removed, and it changes nothing:
// the endpoint keeps its context and establishes, renews or resends
// nothing.
func TestForeignTokenInAnswer(t *testing.T) {
	t.Parallel()
	up := newFaultyUpstream(t)
	up.app.Store(int32(foreignToken))
	px := startProxy(t, outbound.Config{
		Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		Logger: newCanary(t).logger(),
	})
	app := newApp(t)
	for i := range 5 {
		text := fmt.Sprintf("foreign-%d", i)
		wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text))), soap.V11, text, false)
	}
	st := px.p.Status()
	if len(st.Endpoints) != 1 {
		t.Fatalf("%d endpoints", len(st.Endpoints))
	}
	ep := st.Endpoints[0]
	if up.stsSeen.Load() != 1 || up.appSeen.Load() != 5 || ep.Identifier == "urn:uuid:someone-elses-context" {
		t.Errorf("after answers naming another context: %d STS requests, %d application messages, context %q; want 1, 5 and the one issued",
			up.stsSeen.Load(), up.appSeen.Load(), ep.Identifier)
	}
}

// discardLog silences a test server's error log.
var discardLog = log.New(io.Discard, "", 0)

// TestOutageIsolation: while one endpoint's STS or service hangs with 96
// requests waiting on it, the other endpoint's requests all succeed and
// keep their latency, whether the two live on different hosts or on one
// (where they share the client's connections to that host).
func TestOutageIsolation(t *testing.T) {
	const waiting = 96
	for _, tc := range []struct {
		name     string
		sts, app misbehaviour
		sameHost bool
	}{
		{"STS hangs, other host", hang, behave, false},
		{"STS hangs, same host", hang, behave, true},
		{"service hangs, other host", behave, hang, false},
		{"service hangs, same host", behave, hang, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFaultyUpstream(t)
			b := a
			if !tc.sameHost {
				b = newFaultyUpstream(t)
			}
			a.only = "/A.svc"
			px := startProxy(t, outbound.Config{
				Routes:           []outbound.Route{{Prefix: "/a", Upstream: a.url(t, "/A.svc")}, {Prefix: "/b", Upstream: b.url(t, "/B.svc")}},
				RootCAs:          a.ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
				UpstreamTimeout:  3 * time.Second,
				EstablishTimeout: 3 * time.Second,
				Logger:           newCanary(t).logger(),
			})
			app := newApp(t)
			if tc.app == hang {
				wantEcho(t, app.post(px.base+"/a", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("a"))), soap.V11, "a", false)
			}
			before := latencies(t, app, px.base+"/b", "before")
			a.sts.Store(int32(tc.sts))
			a.app.Store(int32(tc.app))
			appBefore := a.appSeen.Load()
			var wg sync.WaitGroup
			failed := make([]reply, waiting)
			for i := range failed {
				wg.Go(func() {
					req, _ := newRequest(http.MethodPost, px.base+"/a", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("a")))
					failed[i], _ = app.do(nil, req)
				})
			}
			// Measure once the requests to A are waiting on it (64, as many
			// connections as a route's client opens, when the service
			// hangs), not while their connections are being set up.
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if tc.sts == hang && a.stsSeen.Load() > 0 || tc.app == hang && a.appSeen.Load()-appBefore >= 64 {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
			during := latencies(t, app, px.base+"/b", "during")
			wg.Wait()
			for _, r := range failed {
				// Timed out, or (for the requests queued behind the 64
				// connections a route's client allows, their time spent
				// before their turn) cut off as the server hangs up.
				if r.status == http.StatusBadGateway {
					wantProxyFault(t, r, soap.V11, http.StatusBadGateway, outbound.CodeUnreachable, "connection")
					continue
				}
				wantProxyFault(t, r, soap.V11, http.StatusGatewayTimeout, outbound.CodeTimeout, "timed out")
			}
			t.Logf("endpoint B latency p50/max: %v/%v before, %v/%v while %d requests wait on A", before[0], before[1], during[0], during[1], waiting)
			// A hung request holds on for 3 s: a request to B that waited
			// behind one would take as long.
			if during[1] >= 3*time.Second {
				t.Errorf("a request to endpoint B took %v while A hung: it waited behind A", during[1])
			}
			testkit.Budget(t, "endpoint B's median latency while A hangs", during[0], max(before[0], 5*time.Millisecond))
			testkit.Budget(t, "endpoint B's largest latency while A hangs", during[1], before[1]+125*time.Millisecond)
		})
	}
}

// latencies sends 50 echo requests one after the other to url, each of
// which must succeed, and returns the median and the largest latency.
func latencies(t *testing.T, app *appClient, url, tag string) [2]time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := range 50 {
		text := fmt.Sprintf("%s-%d", tag, i)
		start := time.Now()
		r := app.post(url, soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text)))
		ds = append(ds, time.Since(start))
		wantEcho(t, r, soap.V11, text, false)
	}
	slices.Sort(ds)
	return [2]time.Duration{ds[len(ds)/2], ds[len(ds)-1]}
}
