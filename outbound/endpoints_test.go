package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
)

// junkPaths is the attack of issue 18: more distinct paths under one route
// than the proxy holds endpoints.
const junkPaths = 1030

// TestJunkPathsMakeNoEndpoints replays the junk-path attack: a local
// caller posts 1,030 invented paths under a route. No path a caller
// invents becomes an endpoint: none reaches the service, no Issue is
// sent with the credential for it, a route not used yet still works
// afterwards, and a 60 KB path is refused as too long. The figures
// (Issues sent, goroutines, heap, the status document) are logged.
func TestJunkPathsMakeNoEndpoints(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{
		Routes:  []outbound.Route{{Prefix: "/a", Upstream: up.url(t, "/A.svc")}, {Prefix: "/b", Upstream: up.url(t, "/B.svc")}},
		RootCAs: up.pool(),
	})
	app := newApp(t)
	g0, h0 := runtime.NumGoroutine(), heapInUse()

	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	paths := make(chan string)
	for range 8 {
		wg.Go(func() {
			client := &http.Client{}
			for p := range paths {
				req, err := newRequest(http.MethodPost, px.base+p, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("junk")))
				if err != nil {
					t.Error(err)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
			client.CloseIdleConnections()
		})
	}
	for i := range junkPaths {
		paths <- fmt.Sprintf("/a/junk-%d", i)
	}
	close(paths)
	wg.Wait()
	issues := up.issues()
	g1, h1 := runtime.NumGoroutine(), heapInUse()
	doc, _ := json.Marshal(px.p.Status())
	t.Logf("%d junk paths: answers %v; %d Issues sent; %d endpoints; goroutines %d -> %d; heap %.1f -> %.1f MiB; status document %d bytes",
		junkPaths, statuses, issues, len(px.p.Endpoints()), g0, g1, mib(h0), mib(h1), len(doc))
	if issues > 0 || len(px.p.Endpoints()) > 0 {
		t.Errorf("invented paths made %d endpoints and %d Issues with the credential, want none", len(px.p.Endpoints()), issues)
	}
	if statuses[http.StatusNotFound] != junkPaths {
		t.Errorf("answers %v, want %d refusals (404)", statuses, junkPaths)
	}
	// A route not used yet still works.
	wantEcho(t, app.post(px.base+"/b", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("after"))), soap.V11, "after", false)
	// A 60 KB path is refused as too long, not made an endpoint.
	long := "/a/" + strings.Repeat("x", 60<<10)
	wantProxyFault(t, app.post(px.base+long, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("long"))), soap.V11,
		http.StatusRequestURITooLong, outbound.CodeBadRequest, "request target")
	if n := len(px.p.Endpoints()); n != 1 {
		t.Errorf("%d endpoints, want the one of route /b", n)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestEndpointUnderRouteUsesRouteBootstrap: a route with a credential of
// its own (the keyring entry of its host) and no proxy-wide one
// establishes the contexts of its endpoints, its sub-addresses included,
// with that credential.
func TestEndpointUnderRouteUsesRouteBootstrap(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	p, err := outbound.New(outbound.Config{
		Listen: "127.0.0.1:0",
		Routes: []outbound.Route{{Prefix: "/orders", Upstream: up.url(t, "/Echo.svc"), Endpoints: []string{"/ep2"},
			Bootstrap: session.Username{User: testUser, Password: creds.NewSecret(testPassword)}}},
		RootCAs: up.pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	app := newApp(t)
	for _, path := range []string{"/orders/ep2", "/orders"} {
		wantEcho(t, app.post("http://"+ln.Addr().String()+path, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("sub"))), soap.V11, "sub", false)
	}
	if n := up.issues(); n != 2 {
		t.Errorf("%d Issues, want one per endpoint (2)", n)
	}
}

// TestEstablishRatePerRoute: a service that forgets its contexts after
// every call (a recycle loop, or a hostile service) makes every request
// re-establish. A route makes at most EstablishRate establishments a
// minute; past them the request fails at once with a fault naming the
// limit, and the service receives no Issue with the credential.
func TestEstablishRatePerRoute(t *testing.T) {
	const rate = 3
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), EstablishRate: rate})
	app := newApp(t)
	for i := range rate {
		text := fmt.Sprintf("call-%d", i)
		wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text))), soap.V11, text, false)
		up.srv.ForgetAll()
	}
	wantProxyFault(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("over"))), soap.V11,
		http.StatusBadGateway, outbound.CodeNoContext, "more than 3 establishments in a minute")
	if n := up.issues(); n != rate {
		t.Errorf("%d Issues sent, want the %d the rate allows", n, rate)
	}
}

// TestServletEscapeRefused: "/..;/..;/admin/x" under a route to
// /Service/x would reach another web application of a servlet container
// with the Issue and its password; it is refused with a fault that names
// the path escaped (a NUL included), and nothing reaches the upstream.
func TestServletEscapeRefused(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: []outbound.Route{{Prefix: "/svc", Upstream: up.url(t, "/Service/x")}}, RootCAs: up.pool()})
	app := newApp(t)
	for _, path := range []string{"/svc/..;/..;/admin/x", "/svc/%2e%2e;/%2e%2e;/admin/x", "/svc/.;/x", "/svc/x%00", "/svc/x%5c..%5cadmin"} {
		r := app.raw(px.base, http.MethodPost, rawPost(path, "127.0.0.1"))
		wantProxyFault(t, r, soap.V11, http.StatusNotFound, outbound.CodeNoRoute, "no route for")
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}
