package outbound_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"maps"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	testUser     = "demo"
	testPassword = "canary-Pa55word-7f3e"
)

// upstreamRig is the built-in WS-SC server behind a real TLS listener
// (httptest), with every request body it received recorded.
type upstreamRig struct {
	srv *scserver.Server
	ts  *httptest.Server

	mu         sync.Mutex
	received   []captured
	wcfAnswers bool
	// intercept, when set, may answer a request instead of the built-in
	// server (it returns false to let the server answer).
	intercept func(w http.ResponseWriter, r *http.Request, body []byte) bool
}

type captured struct {
	contentType, soapAction string
	body                    []byte
	// uri is the request target as received (escaped path and query).
	uri string
	// status and resp are the upstream's answer, filled in once it has
	// been written.
	status int
	resp   []byte
	// at is when the request arrived, done when its answer was ready.
	at, done time.Time
}

func newUpstream(t *testing.T, cfg scserver.Config) *upstreamRig {
	t.Helper()
	return newUpstreamWithCert(t, cfg, nil)
}

// newUntrustedUpstream is newUpstream with a certificate of its own, made
// for the test: a pool from another upstream's pool() does not trust it.
func newUntrustedUpstream(t *testing.T, cfg scserver.Config) *upstreamRig {
	t.Helper()
	cert := selfSignedCert(t)
	return newUpstreamWithCert(t, cfg, &cert)
}

// newUpstreamWithCert serves with cert, or httptest's certificate when nil.
func newUpstreamWithCert(t *testing.T, cfg scserver.Config, cert *tls.Certificate) *upstreamRig {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = map[string]string{testUser: testPassword}
	}
	cfg.PlainHTTP = true // TLS is httptest's
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rig := &upstreamRig{srv: srv}
	rig.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rig.mu.Lock()
		i := len(rig.received)
		rig.received = append(rig.received, captured{contentType: r.Header.Get("Content-Type"), soapAction: r.Header.Get("SOAPAction"), body: body, uri: r.RequestURI, at: time.Now()})
		intercept := rig.intercept
		rig.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		if intercept == nil || !intercept(rec, r, body) {
			srv.ServeHTTP(rec, r)
		}
		resp := rec.Body.Bytes()
		rig.mu.Lock()
		if rig.wcfAnswers && rec.Code == http.StatusOK {
			resp = withResponseSecurity(resp)
		}
		rig.received[i].status, rig.received[i].resp, rig.received[i].done = rec.Code, resp, time.Now()
		rig.mu.Unlock()
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(resp)
	}))
	if cert != nil {
		rig.ts.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		rig.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	}
	rig.ts.StartTLS()
	t.Cleanup(func() { rig.ts.Close(); srv.Close() })
	return rig
}

// answerLikeWCF makes the upstream's successful answers carry what a WCF
// service over TransportWithMessageCredential adds to them: a Security
// header, mustUnderstand, holding a Timestamp addressed to the client.
func (u *upstreamRig) answerLikeWCF() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.wcfAnswers = true
}

// withResponseSecurity adds WCF's response Security header to an envelope
// as the built-in server writes it (prefixed names, a Header element).
func withResponseSecurity(env []byte) []byte {
	s := string(env)
	i := strings.Index(s, ":Envelope")
	j := strings.LastIndexByte(s[:max(i, 0)], '<')
	if i < 0 || j < 0 {
		return env
	}
	p := s[j+1 : i]
	now := time.Now().UTC()
	sec := `<o:Security ` + p + `:mustUnderstand="1" xmlns:o="` + wss.NSWSSE + `"><u:Timestamp u:Id="_0" xmlns:u="` + wss.NSWSU + `">` +
		`<u:Created>` + now.Format("2006-01-02T15:04:05.000Z") + `</u:Created><u:Expires>` + now.Add(5*time.Minute).Format("2006-01-02T15:04:05.000Z") + `</u:Expires>` +
		`</u:Timestamp></o:Security>`
	switch {
	case strings.Contains(s, "<"+p+":Header/>"):
		s = strings.Replace(s, "<"+p+":Header/>", "<"+p+":Header>"+sec+"</"+p+":Header>", 1)
	case strings.Contains(s, "</"+p+":Header>"):
		s = strings.Replace(s, "</"+p+":Header>", sec+"</"+p+":Header>", 1)
	default:
		k := strings.Index(s, "<"+p+":Body")
		if k < 0 {
			return env
		}
		s = s[:k] + "<" + p + ":Header>" + sec + "</" + p + ":Header>" + s[k:]
	}
	return []byte(s)
}

// selfSignedCert makes a certificate for 127.0.0.1 that nothing trusts:
// the kit's untrusted CA signs it for the kit's ECDSA server key.
func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key := testkit.ServerEC().Key
	cert := testkit.Issue(t, testkit.OtherCA(), &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "untrusted scserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key.Public())
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

// stop closes the upstream's listener: later calls find nobody there.
func (u *upstreamRig) stop() { u.ts.Close() }

// count returns how many HTTP requests the upstream has received.
func (u *upstreamRig) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.received)
}

func (u *upstreamRig) url(t *testing.T, path string) *url.URL {
	t.Helper()
	v, err := url.Parse(u.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (u *upstreamRig) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(u.ts.Certificate())
	return p
}

func (u *upstreamRig) messages() []captured {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]captured(nil), u.received...)
}

// servingProxy is a proxy serving on a loopback port whose shutdown the
// test starts and times.
type servingProxy struct {
	p    *outbound.Proxy
	base string

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
	took   time.Duration
}

// serveProxy starts a proxy on a loopback port; the test may stop it and
// time the shutdown, the cleanup stops it otherwise.
func serveProxy(t *testing.T, cfg outbound.Config) *servingProxy {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Bootstrap == nil && cfg.Security == outbound.SecurityContext {
		cfg.Bootstrap = session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	}
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp := &servingProxy{p: p, base: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { sp.done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if _, err := sp.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sp
}

// stop cancels the context Serve runs under and returns what Serve
// returned and how long it took to.
func (sp *servingProxy) stop() (time.Duration, error) {
	sp.once.Do(func() {
		start := time.Now()
		sp.cancel()
		select {
		case sp.err = <-sp.done:
		case <-time.After(20 * time.Second):
			sp.err = fmt.Errorf("Serve did not return within 20s of the cancel")
		}
		sp.took = time.Since(start)
	})
	return sp.took, sp.err
}

// proxyRig is a running proxy stopped by the test's cleanup.
type proxyRig = servingProxy

func startProxy(t *testing.T, cfg outbound.Config) *proxyRig { return serveProxy(t, cfg) }

// call posts a SOAP message as a legacy client would.
func call(t *testing.T, url, contentType, soapAction, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if soapAction != "" {
		req.Header.Set("SOAPAction", soapAction)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const (
	echoAction = "http://tempuri.org/IEchoService/EchoString"
	soap11Req  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><EchoString xmlns="http://tempuri.org/"><echo>hello</echo></EchoString></soap:Body></soap:Envelope>`
	soap12Req  = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><EchoString xmlns="http://tempuri.org/"><echo>hello</echo></EchoString></env:Body></env:Envelope>`
)

func routes(u *url.URL) []outbound.Route { return []outbound.Route{{Prefix: "/", Upstream: u}} }

// reply is what the application got back.
type reply struct {
	status int
	header http.Header
	body   string
}

// appClient is a legacy application posting to the proxy. It keeps every
// answer and, when the test ends, checks that none shows the bootstrap
// password.
type appClient struct {
	t      *testing.T
	client *http.Client

	mu      sync.Mutex
	answers []string
}

func newApp(t *testing.T) *appClient {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	a := &appClient{t: t, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, s := range a.answers {
			if strings.Contains(s, testPassword) {
				t.Errorf("the bootstrap password reached the application:\n%s", s)
			}
		}
	})
	return a
}

func (a *appClient) keep(r reply) {
	var b strings.Builder
	for k, vs := range r.header {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	b.WriteString(r.body)
	a.mu.Lock()
	a.answers = append(a.answers, b.String())
	a.mu.Unlock()
}

// do sends req with client (a.client when nil); safe from any goroutine.
func (a *appClient) do(client *http.Client, req *http.Request) (reply, error) {
	if client == nil {
		client = a.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{resp.StatusCode, resp.Header, string(b)}
	a.keep(r)
	return r, nil
}

// newRequest builds a POST as a client of SOAP version v sends it.
func newRequest(method, url string, v soap.Version, action, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	switch v {
	case soap.V11:
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", `"`+action+`"`)
	case soap.V12:
		req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
	}
	return req, nil
}

// post sends a SOAP request of version v, failing the test on a transport
// error.
func (a *appClient) post(url string, v soap.Version, action, body string) reply {
	a.t.Helper()
	req, err := newRequest(http.MethodPost, url, v, action, body)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.send(req)
}

func (a *appClient) send(req *http.Request) reply {
	a.t.Helper()
	r, err := a.do(nil, req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return r
}

// viaProxy sends req with the proxy configured as the HTTP proxy, so that
// the request line carries an absolute URI.
func (a *appClient) viaProxy(proxyBase string, req *http.Request) reply {
	a.t.Helper()
	pu, err := url.Parse(proxyBase)
	if err != nil {
		a.t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	defer tr.CloseIdleConnections()
	r, err := a.do(&http.Client{Transport: tr, Timeout: 30 * time.Second}, req)
	if err != nil {
		a.t.Fatalf("%s %s via %s: %v", req.Method, req.URL, proxyBase, err)
	}
	return r
}

// raw writes a hand-made HTTP/1.1 request on a new connection to the
// proxy and reads one response, for request lines net/http will not send.
func (a *appClient) raw(proxyBase, method, request string) reply {
	a.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(proxyBase, "http://"), 5*time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		a.t.Fatalf("reading the answer to %q: %v", request, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := reply{resp.StatusCode, resp.Header, string(b)}
	a.keep(r)
	return r
}

// envelope wraps header blocks and a payload in a SOAP envelope of v.
func envelope(v soap.Version, header, payload string) string {
	p, ns := "soap", soap.NS11
	if v == soap.V12 {
		p, ns = "env", soap.NS12
	}
	h := ""
	if header != "" {
		h = "<" + p + ":Header>" + header + "</" + p + ":Header>"
	}
	return "<" + p + ":Envelope xmlns:" + p + `="` + ns + `">` + h + "<" + p + ":Body>" + payload + "</" + p + ":Body></" + p + ":Envelope>"
}

// echoPayload is an EchoString request carrying text.
func echoPayload(text string) string {
	return `<EchoString xmlns="http://tempuri.org/"><echo>` + text + `</echo></EchoString>`
}

func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

// parseAnswer parses an answer as a SOAP envelope of version v sent with
// v's media type.
func parseAnswer(t *testing.T, r reply, v soap.Version) *soap.Envelope {
	t.Helper()
	env, err := soap.Parse([]byte(r.body), xmldoc.DefaultLimits)
	if err != nil {
		t.Fatalf("HTTP %d, answer is not SOAP: %v\n%s", r.status, err, r.body)
	}
	if env.Version != v {
		t.Errorf("answer in %s, want %s:\n%s", env.Version, v, r.body)
	}
	if mt := mediaType(r.header); mt != v.MediaType() {
		t.Errorf("answer sent as %q, want %q", r.header.Get("Content-Type"), v.MediaType())
	}
	return env
}

// wantEcho checks a successful answer in version v echoing text, with no
// WS-Security header and, when the application sent no addressing, no
// WS-Addressing header either.
func wantEcho(t *testing.T, r reply, v soap.Version, text string, appAddressing bool) *soap.Envelope {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("HTTP %d, want 200:\n%s", r.status, r.body)
	}
	env := parseAnswer(t, r, v)
	payload, err := env.Payload()
	if err != nil {
		t.Fatalf("answer payload: %v\n%s", err, r.body)
	}
	if got, want := xmldoc.NameOf(payload), (xmldoc.Name{Space: "http://tempuri.org/", Local: "EchoStringResponse"}); got != want {
		t.Fatalf("answer payload %v, want %v:\n%s", got, want, r.body)
	}
	echo, err := xmldoc.One(payload, xmldoc.Name{Space: "http://tempuri.org/", Local: "echo"})
	if err != nil || xmldoc.Text(echo) != text {
		t.Fatalf("answer does not echo %q:\n%s", text, r.body)
	}
	if env.Header == nil {
		return env
	}
	for _, h := range env.Header.ChildElements() {
		ns := h.NamespaceURI()
		if ns == wss.NSWSSE || ns == wss.NSWSU {
			t.Errorf("answer carries a WS-Security header %v:\n%s", xmldoc.NameOf(h), r.body)
		}
		if !appAddressing && (ns == wsa.V10.Namespace() || ns == wsa.V200408.Namespace()) {
			t.Errorf("answer carries addressing header %v the application never sent:\n%s", xmldoc.NameOf(h), r.body)
		}
	}
	return env
}

// wantProxyFault checks an answer is one of scproxy's own faults: status,
// a fault in version v whose code is code (namespace urn:scproxy:fault),
// and a reason that contains every one of words (case-insensitive; "a|b"
// accepts either).
func wantProxyFault(t *testing.T, r reply, v soap.Version, status int, code xmldoc.Name, words ...string) *soap.Fault {
	t.Helper()
	if r.status != status {
		t.Errorf("HTTP %d, want %d:\n%s", r.status, status, r.body)
	}
	f := wantFault(t, r, v)
	if f == nil {
		return nil
	}
	if code.Space != outbound.NSFault {
		t.Fatalf("test bug: code %v outside %s", code, outbound.NSFault)
	}
	if !f.Has(code) {
		t.Errorf("fault codes %v %v, want %v:\n%s", f.Code, f.Subcodes, code, r.body)
	}
	if v == soap.V12 && !slices.Contains(f.Subcodes, code) {
		t.Errorf("SOAP 1.2 fault carries %v outside Subcode: code %v subcodes %v", code, f.Code, f.Subcodes)
	}
	for _, w := range words {
		found := false
		for _, alt := range strings.Split(w, "|") {
			found = found || strings.Contains(strings.ToLower(f.Reason), strings.ToLower(alt))
		}
		if !found {
			t.Errorf("fault reason %q does not mention %q", f.Reason, w)
		}
	}
	return f
}

// wantFault parses an answer as a SOAP fault in version v.
func wantFault(t *testing.T, r reply, v soap.Version) *soap.Fault {
	t.Helper()
	env := parseAnswer(t, r, v)
	f, err := env.Fault()
	if err != nil || f == nil {
		t.Errorf("answer is not a fault (%v):\n%s", err, r.body)
		return nil
	}
	return f
}

// appMessages returns the captured requests other than Issue requests.
func (u *upstreamRig) appMessages(t *testing.T) []captured {
	t.Helper()
	var out []captured
	for _, m := range u.messages() {
		if !isIssue(m) {
			out = append(out, m)
		}
	}
	return out
}

// issues counts the Issue requests the upstream received.
func (u *upstreamRig) issues() int {
	n := 0
	for _, m := range u.messages() {
		if isIssue(m) {
			n++
		}
	}
	return n
}

func isIssue(m captured) bool {
	_, action, err := soap.ActionFromHTTP(m.contentType, m.soapAction)
	if err != nil {
		return false
	}
	for _, v := range wssc.Versions {
		if action == v.Action(wssc.Issue) {
			return true
		}
	}
	env, err := soap.Parse(m.body, xmldoc.DefaultLimits)
	if err != nil {
		return false
	}
	p, err := env.Payload()
	return err == nil && p.Tag == "RequestSecurityToken"
}

// setIntercept makes f see every later request first; f answers one by
// writing to w and returning true, or leaves it to the built-in server.
// Nil removes it.
func (u *upstreamRig) setIntercept(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.intercept = f
}

// trustOp tells a WS-Trust request (Issue, Renew, Cancel) by its action.
func trustOp(contentType, soapAction string) (wssc.Operation, bool) {
	_, action, err := soap.ActionFromHTTP(contentType, soapAction)
	if err != nil {
		return 0, false
	}
	for _, v := range wssc.Versions {
		for _, op := range []wssc.Operation{wssc.Issue, wssc.Renew, wssc.Cancel} {
			if action == v.Action(op) {
				return op, true
			}
		}
	}
	return 0, false
}

// ops returns the captured WS-Trust requests of operation op.
func (u *upstreamRig) ops(op wssc.Operation) []captured {
	var out []captured
	for _, m := range u.messages() {
		if o, ok := trustOp(m.contentType, m.soapAction); ok && o == op {
			out = append(out, m)
		}
	}
	return out
}

// appOnly returns the captured requests that are not WS-Trust ones: the
// application messages the upstream received, resends included.
func (u *upstreamRig) appOnly() []captured {
	var out []captured
	for _, m := range u.messages() {
		if _, ok := trustOp(m.contentType, m.soapAction); !ok {
			out = append(out, m)
		}
	}
	return out
}
