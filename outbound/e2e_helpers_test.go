package outbound_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/wssc"
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

	mu       sync.Mutex
	received []captured
}

type captured struct {
	contentType, soapAction string
	body                    []byte
}

func newUpstream(t *testing.T, cfg scserver.Config) *upstreamRig {
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
	rig.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rig.mu.Lock()
		rig.received = append(rig.received, captured{r.Header.Get("Content-Type"), r.Header.Get("SOAPAction"), body})
		rig.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { rig.ts.Close(); srv.Close() })
	return rig
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

// proxyRig is a running proxy on a loopback port.
type proxyRig struct {
	p    *outbound.Proxy
	base string
}

func startProxy(t *testing.T, cfg outbound.Config) *proxyRig {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Bootstrap == nil && cfg.Security == outbound.SecurityContext {
		cfg.Bootstrap = session.Username{User: testUser, Password: testPassword}
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
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("proxy did not stop")
		}
	})
	return &proxyRig{p: p, base: "http://" + ln.Addr().String()}
}

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

var _ = wssc.Feb2005
