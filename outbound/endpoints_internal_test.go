package outbound

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/scserver"
)

// TestRouteRefusesServletEscapes: a servlet container cuts ";" path
// parameters and decodes before it normalises, so "..;" is ".." to it and
// "/svc/..;/..;/admin/x" under a route to /Service/x reaches another web
// application, with the Issue and its password. Whatever the profile, the
// router refuses dot segments after cutting parameters and decoding, and
// any ";", NUL or backslash below the route.
func TestRouteRefusesServletEscapes(t *testing.T) {
	rt := newRouter(&Config{Listen: "127.0.0.1:8780", Security: SecurityNone,
		Routes: []Route{{Prefix: "/svc", Upstream: mustURL(t, "https://tomcat.example/Service/x")}}})
	tests := []struct {
		target string
		ok     bool
	}{
		{"/svc", true},
		{"/svc/sub/path", true},
		{"/svc?wsdl", true},
		{"/svc/..;/..;/admin/x", false},
		{"/svc/%2e%2e;/%2e%2e;/admin/x", false},
		{"/svc/.;/x", false},
		{"/svc/..;jsessionid=1/admin", false},
		{"/svc/%2E%2E%3B/admin", false},
		{"/svc/%2e%2e%3bx/admin", false},
		{"/svc/.%2e;/admin", false},
		{"/svc/%252e%252e/admin", false},
		{"/svc/%252e%252e%253b/admin", false},
		{"/svc/a;b", false},
		{"/svc/a%3Bb", false},
		{"/svc/a%00b", false},
		{"/svc/a%5cb", false},
		{"/svc/a%5C..%5Cadmin", false},
		{"/svc/%2F..%2Fadmin", false},
		{"/svc/x%2f%2e%2e%2f%2e%2e%2fadmin", false},
		{"/svc/x%252f..%252fadmin", false},
		{"/svc/a%2Fb", true},
		{"/svc/100%25", true},
		{"/svc/caf%C3%A9", true},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST " + tt.target + " HTTP/1.1\r\nHost: 127.0.0.1:8780\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			u, ok := rt.target(r)
			if ok != tt.ok {
				t.Errorf("target(%q) = %v, %v; want ok %v", tt.target, u, ok, tt.ok)
			}
		})
	}
}

// A log line shows at most maxLoggedPath bytes of a path, however long
// the path a caller sends.
func TestLogPathIsBounded(t *testing.T) {
	long := "/svc/" + strings.Repeat("x", 60<<10)
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8780"+long, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := logPath(r); len(got) > maxLoggedPath+32 || !strings.HasPrefix(got, "/svc/xxx") {
		t.Errorf("logged %d bytes of a %d-byte path", len(got), len(long))
	}
	r.URL.Path = "/svc/short"
	if got := logPath(r); got != "/svc/short" {
		t.Errorf("logPath = %q", got)
	}
}

// With security contexts, a route reaches its upstream and the endpoints
// configured below it, in either form of request target, and nothing
// else; each is an endpoint of its own, found by the route it lies
// under. Without contexts any path below a route is forwarded.
func TestRouterEndpoints(t *testing.T) {
	up := mustURL(t, "https://svc.example/Service.svc")
	cfg := Config{Listen: "127.0.0.1:8780", Routes: []Route{{Prefix: "/svc", Upstream: up, Endpoints: []string{"/ep2", "/a%2Fb"}}}}
	tests := []struct {
		target, want string // want: the endpoint; "" refused
	}{
		{"/svc", "https://svc.example/Service.svc"},
		{"/svc/?wsdl", "https://svc.example/Service.svc"},
		{"/svc/ep2?x=1", "https://svc.example/Service.svc/ep2"},
		{"/svc/a%2Fb", "https://svc.example/Service.svc/a%2Fb"},
		{"/svc/ep3", ""},
		{"/svc/ep2/more", ""},
		{"/svc/EP2", ""},
		{"https://svc.example/Service.svc/ep2", "https://svc.example/Service.svc/ep2"},
		{"http://svc.example/Service.svc", "https://svc.example/Service.svc"},
		{"https://svc.example/Service.svc/junk", ""},
	}
	for _, security := range []Security{SecurityContext, SecurityNone} {
		cfg.Security = security
		rt := newRouter(&cfg)
		for _, tt := range tests {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST " + tt.target + " HTTP/1.1\r\nHost: 127.0.0.1:8780\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			u, ok := rt.target(r)
			want := tt.want
			if security == SecurityNone && want == "" && !strings.HasPrefix(tt.target, "http") {
				want = "forwarded"
			}
			switch {
			case want == "" && ok:
				t.Errorf("%s: %s routed to %s, want refused", security, tt.target, u)
			case want != "" && !ok:
				t.Errorf("%s: %s refused, want routed", security, tt.target)
			case ok && want != "forwarded":
				if key, _, route, isEP := rt.endpoint(u); key != want || !isEP || route.Prefix != "/svc" {
					t.Errorf("%s: %s: endpoint %q (%v, route %v), want %q", security, tt.target, key, isEP, route, want)
				}
			}
		}
	}
}

// An endpoint unused for EndpointIdleTimeout is dropped, its context
// cancelled; the next request establishes anew.
func TestProxyEvictsIdleEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Hour})
		p := newClockProxy(t, up, Config{EndpointIdleTimeout: time.Hour})
		defer shutdown(t, p)
		if w := clockPost(p, "/", "first"); !echoed(w, "first") {
			t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
		}
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if n := len(p.Endpoints()); n != 0 {
			t.Fatalf("%d endpoints after an idle hour, want none", n)
		}
		if st := up.srv.Stats(); st.Cancelled != 1 {
			t.Fatalf("server cancelled %d contexts, want the idle endpoint's", st.Cancelled)
		}
		if w := clockPost(p, "/", "again"); !echoed(w, "again") {
			t.Fatalf("request after the eviction: HTTP %d\n%s", w.Code, w.Body)
		}
		if st := up.srv.Stats(); st.Issued != 2 {
			t.Fatalf("server issued %d contexts, want 2", st.Issued)
		}
	})
}
