package upstream_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/upstream"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func pool(ts *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ts.Certificate())
	return p
}

func post(c *upstream.Client, u *url.URL) (*upstream.Response, error) {
	return c.Post(context.Background(), upstream.Request{URL: u, ContentType: "text/xml", SOAPAction: `"a"`, Body: []byte("<x/>")})
}

func kindOf(t *testing.T, err error) upstream.Kind {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	return ue.Kind
}

func TestPostSendsAndReads(t *testing.T) {
	var got atomic.Value
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.Header.Get("Content-Type") + " " + r.Header.Get("SOAPAction") + " " + string(b))
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(500)
		io.WriteString(w, "<fault/>")
	}))
	defer ts.Close()
	c := upstream.New(upstream.Config{RootCAs: pool(ts)})
	resp, err := post(c, mustURL(t, ts.URL+"/svc"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 500 || string(resp.Body) != "<fault/>" || resp.ContentType != "text/xml; charset=utf-8" {
		t.Fatalf("response %+v", resp)
	}
	if got.Load() != `POST text/xml "a" <x/>` {
		t.Fatalf("server saw %q", got.Load())
	}
}

func TestFailuresAreClassified(t *testing.T) {
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 5000))
	}))
	defer big.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("garbage that is not TLS\r\n\r\n"))
			c.Close()
		}
	}()
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name   string
		cfg    upstream.Config
		url    string
		want   upstream.Kind
		inText string
	}{
		{"untrusted certificate", upstream.Config{}, ok.URL, upstream.Untrusted, "certificate"},
		{"connection refused", upstream.Config{}, "https://" + closedAddr + "/", upstream.Unreachable, "refused"},
		{"not TLS", upstream.Config{}, "https://" + ln.Addr().String() + "/", upstream.TLSFailed, ""},
		{"slow response", upstream.Config{RootCAs: pool(slow), ResponseHeaderTimeout: 100 * time.Millisecond}, slow.URL, upstream.Timeout, ""},
		{"overall timeout", upstream.Config{RootCAs: pool(slow), Timeout: 150 * time.Millisecond}, slow.URL, upstream.Timeout, ""},
		{"too large", upstream.Config{RootCAs: pool(big), MaxBody: 4096}, big.URL, upstream.TooLarge, "4096"},
		{"unknown host", upstream.Config{}, "https://no-such-host.invalid/", upstream.Unreachable, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := post(upstream.New(c.cfg), mustURL(t, c.url))
			if err == nil {
				t.Fatal("no error")
			}
			if k := kindOf(t, err); k != c.want {
				t.Fatalf("kind %v, want %v (%v)", k, c.want, err)
			}
			if !strings.Contains(err.Error(), c.inText) {
				t.Fatalf("error %q lacks %q", err, c.inText)
			}
			testkit.Budget(t, "time to fail", time.Since(start), 750*time.Millisecond)
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	p := pool(redirector)
	p.AddCert(target.Certificate())
	resp, err := post(upstream.New(upstream.Config{RootCAs: p}), mustURL(t, redirector.URL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Fatalf("status %d, target hit %d times", resp.Status, hits.Load())
	}
}

func TestCallerCancels(t *testing.T) {
	started := make(chan struct{})
	gone := make(chan struct{})
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(gone)
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := upstream.New(upstream.Config{RootCAs: pool(ts)}).Post(ctx, upstream.Request{URL: mustURL(t, ts.URL), ContentType: "text/xml"})
	if k := kindOf(t, err); k != upstream.Canceled {
		t.Fatalf("kind %v", k)
	}
	select {
	case <-gone:
	case <-time.After(3 * time.Second):
		t.Fatal("the server's request was not cancelled")
	}
}

func TestRedactDropsSecrets(t *testing.T) {
	u := mustURL(t, "https://user:pw@svc.example/x.svc?token=abc#frag")
	if got := upstream.Redact(u); got != "https://svc.example/x.svc" {
		t.Fatalf("Redact = %q", got)
	}
}
