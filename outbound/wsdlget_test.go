package outbound_test

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
)

// wcfWSDL is a description as WCF publishes it at ?wsdl, behind a
// balancer: its addresses name the machine, not the address scproxy calls.
const wcfWSDL = `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions targetNamespace="http://tempuri.org/" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:wsa10="http://www.w3.org/2005/08/addressing" xmlns:tns="http://tempuri.org/">
  <wsdl:import namespace="urn:example:orders" location="https://web01.corp.example/Orders.svc?wsdl=wsdl0"/>
  <wsdl:service name="OrderService">
    <wsdl:port name="WSHttpBinding_IOrders" binding="tns:WSHttpBinding_IOrders">
      <soap12:address location="https://web01.corp.example/Orders.svc"/>
      <wsa10:EndpointReference><wsa10:Address>https://web01.corp.example/Orders.svc/ep2</wsa10:Address></wsa10:EndpointReference>
    </wsdl:port>
  </wsdl:service>
  <wsdl:documentation>see https://other.example/Else.svc</wsdl:documentation>
</wsdl:definitions>`

// TestWSDLPassThrough (what a newcomer hit): GET ?wsdl, ?singleWsdl,
// ?wsdl=wsdl0 and ?xsd=xsd0 on a route reach the route's upstream without
// a credential and come back with the service's addresses rewritten to
// the listener's; a second read within the cache's life does not reach
// the service; other GETs are still refused with 405, and nothing
// establishes a context.
func TestWSDLPassThrough(t *testing.T) {
	var gets, posts atomic.Int32
	u, roots := describingService(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			posts.Add(1)
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		gets.Add(1)
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			t.Errorf("the description request carries a credential: %v", r.Header)
		}
		switch r.URL.RawQuery {
		case "wsdl", "singleWsdl":
			_, _ = io.WriteString(w, wcfWSDL)
		case "wsdl=wsdl0":
			_, _ = io.WriteString(w, `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:import schemaLocation="https://web01.corp.example/Orders.svc?xsd=xsd0"/></xsd:schema></wsdl:types></wsdl:definitions>`)
		case "xsd=xsd0":
			_, _ = io.WriteString(w, `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>`)
		case "xsd=big":
			_, _ = io.WriteString(w, `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">`+strings.Repeat(" ", 4096)+`</xsd:schema>`)
		default:
			http.Error(w, "There is no such document", http.StatusNotFound)
		}
	})
	px := startProxy(t, outbound.Config{RootCAs: roots, MaxBody: 2048, Routes: []outbound.Route{{Prefix: "/orders", Upstream: u, Endpoints: []string{"/ep2"}}}})
	local := px.base + "/orders"
	get := func(q string) (int, string) {
		status, _, body := getDescription(context.Background(), t, local+q)
		return status, body
	}
	status, body := get("?wsdl")
	if status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	for _, want := range []string{`location="` + local + `?wsdl=wsdl0"`, `location="` + local + `"`, `>` + local + `/ep2<`, "https://other.example/Else.svc"} {
		if !strings.Contains(body, want) {
			t.Errorf("the description lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "web01.corp.example") {
		t.Errorf("a service address is left:\n%s", body)
	}
	if status, _ := get("?wsdl"); status != http.StatusOK || gets.Load() != 1 {
		t.Errorf("second read: HTTP %d, %d fetches, want 200 from the cache", status, gets.Load())
	}
	for _, q := range []string{"?singleWsdl", "?wsdl=wsdl0", "?xsd=xsd0"} {
		if status, body := get(q); status != http.StatusOK {
			t.Errorf("%s: HTTP %d: %s", q, status, body)
		} else if q == "?wsdl=wsdl0" && !strings.Contains(body, `schemaLocation="`+local+`?xsd=xsd0"`) {
			t.Errorf("%s: the schema import is not rewritten:\n%s", q, body)
		}
	}
	for _, tc := range []struct {
		q      string
		status int
		words  string
	}{
		{"?xsd=xsd9", http.StatusBadGateway, "There is no such document"},
		{"?xsd=big", http.StatusBadGateway, "larger than 2048 bytes"},
		{"", http.StatusMethodNotAllowed, "POST"},
		{"?foo", http.StatusMethodNotAllowed, "POST"},
		{"?wsdl&x=1", http.StatusMethodNotAllowed, "POST"},
		{"?wsdl=../../etc", http.StatusMethodNotAllowed, "POST"},
	} {
		if status, body := get(tc.q); status != tc.status || !strings.Contains(body, tc.words) {
			t.Errorf("GET %s: HTTP %d %s, want %d saying %q", tc.q, status, body, tc.status, tc.words)
		}
	}
	if posts.Load() != 0 {
		t.Errorf("%d POSTs reached the service: a description read established a context", posts.Load())
	}
}

// describingService serves h over TLS as a service publishing its
// description at /Orders.svc, and returns that address and the roots
// that trust the service.
func describingService(t *testing.T, h http.HandlerFunc) (*url.URL, *x509.CertPool) {
	t.Helper()
	svc := httptest.NewTLSServer(h)
	t.Cleanup(svc.Close)
	u, err := url.Parse(svc.URL + "/Orders.svc")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(svc.Certificate())
	return u, roots
}

// getDescription GETs url under ctx (from any goroutine) and returns the
// answer; a failed exchange is HTTP 0 and fails the test unless ctx has
// ended.
func getDescription(ctx context.Context, t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.Error(err)
		}
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestWSDLPassThroughFetchesOnce: 20 applications reading one description
// not cached yet make one fetch from the service, whose answer each of
// them gets, rewritten; the application whose read started the fetch
// gives up before the service answers, and the fetch goes on for the
// others.
func TestWSDLPassThroughFetchesOnce(t *testing.T) {
	const callers = 20
	var gets atomic.Int32
	release := make(chan struct{})
	u, roots := describingService(t, func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		select { // the answer waits until every caller asks
		case <-release:
		case <-time.After(20 * time.Second):
		}
		_, _ = io.WriteString(w, wcfWSDL)
	})
	px := startProxy(t, outbound.Config{RootCAs: roots, Routes: []outbound.Route{{Prefix: "/orders", Upstream: u}}})
	local := px.base + "/orders"
	first, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	gaveUp := make(chan struct{})
	go func() {
		defer close(gaveUp)
		if status, _, _ := getDescription(first, t, local+"?wsdl"); status != 0 {
			t.Errorf("the caller that gave up got HTTP %d", status)
		}
	}()
	waitFor(t, "the first read reaches the service", 20*time.Second, func() bool { return gets.Load() == 1 })
	var wg sync.WaitGroup
	for range callers - 1 {
		wg.Go(func() {
			status, _, body := getDescription(context.Background(), t, local+"?wsdl")
			if status != http.StatusOK || !strings.Contains(body, `location="`+local+`"`) {
				t.Errorf("HTTP %d, want the description rewritten to %s:\n%s", status, local, body)
			}
		})
	}
	waitFor(t, "every caller is connected", 20*time.Second, func() bool { return px.p.OpenConns() >= callers })
	giveUp()
	<-gaveUp
	waitFor(t, "the first caller's request ends", 20*time.Second, func() bool { return px.p.OpenConns() < callers })
	close(release)
	wg.Wait()
	if n := gets.Load(); n != 1 {
		t.Errorf("%d callers made %d fetches from the service, want 1", callers, n)
	}
}

// TestWSDLPassThroughChargesTheBudget: the bytes of a description being
// fetched count against the bodies in flight: while a request body holds
// nearly all of the budget, the read is answered 503 with Retry-After and
// the Busy fault; once the budget is free, the same read passes, and
// nothing stays charged.
func TestWSDLPassThroughChargesTheBudget(t *testing.T) {
	const maxBody = 8 << 10
	u, roots := describingService(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, wcfWSDL)
	})
	px := startProxy(t, outbound.Config{RootCAs: roots, MaxBody: maxBody, MaxBodyInFlight: maxBody + int64(len(wcfWSDL))/2,
		Routes: []outbound.Route{{Prefix: "/", Upstream: u}}})
	hog := dial(t, px)
	if _, err := io.WriteString(hog, rawHead(maxBody, "")+strings.Repeat("x", maxBody-1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unfinished body is read", 10*time.Second, func() bool { return px.p.BodyBytesInFlight() >= maxBody })

	status, header, body := getDescription(context.Background(), t, px.base+"/?wsdl")
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" || !strings.Contains(body, "Busy") || !strings.Contains(body, "budget") {
		t.Errorf("read over the budget: HTTP %d, Retry-After %q:\n%s\nwant 503 with Retry-After and the Busy fault", status, header.Get("Retry-After"), body)
	}

	hog.Close()
	waitFor(t, "the budget is given back", 10*time.Second, func() bool { return px.p.BodyBytesInFlight() == 0 })
	if status, _, body := getDescription(context.Background(), t, px.base+"/?wsdl"); status != http.StatusOK || !strings.Contains(body, `location="`+px.base+`"`) {
		t.Errorf("read once the budget is free: HTTP %d:\n%s", status, body)
	}
	if n := px.p.BodyBytesInFlight(); n != 0 {
		t.Errorf("%d bytes still charged after the reads", n)
	}
}

// descriptionRead reports an answer the WSDL pass-through gave: a GET of
// ?wsdl that reached the route's upstream, which publishes no description
// (the built-in server), is answered 502 by design.
func descriptionRead(req rawRequest, status int, code string) bool {
	return req.method == http.MethodGet && strings.HasSuffix(req.target, "?wsdl") &&
		status == http.StatusBadGateway && code == outbound.CodeBadResponse.Local
}
