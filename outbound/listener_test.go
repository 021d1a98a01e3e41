package outbound_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// listenerRig is a proxy with one route, /orders, to an upstream, with
// endpoints of their own below it (see TestRoutePaths).
type listenerRig struct {
	up  *upstreamRig
	px  *proxyRig
	app *appClient
	// upHost is the upstream's host:port, upURL its endpoint.
	upHost, upURL string
}

func newListenerRig(t *testing.T) *listenerRig {
	t.Helper()
	up := newUpstream(t, scserver.Config{})
	target := up.url(t, "/Echo.svc")
	px := startProxy(t, outbound.Config{
		Routes: []outbound.Route{{Prefix: "/orders", Upstream: target,
			Endpoints: []string{"/sub", "/x", "/sub%20path", "/caf%C3%A9", "/a%2Fb"}}},
		RootCAs: up.pool(),
	})
	return &listenerRig{up: up, px: px, app: newApp(t), upHost: target.Host, upURL: target.String()}
}

// rawPost is a hand-written POST of a SOAP 1.1 echo request.
func rawPost(requestTarget, host string, extra ...string) string {
	body := envelope(soap.V11, "", echoPayload("raw"))
	return "POST " + requestTarget + " HTTP/1.1\r\nHost: " + host + "\r\n" +
		"Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"" + echoAction + "\"\r\n" +
		strings.Join(extra, "") +
		fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(body)) + body
}

// TestRefusals checks that what the proxy must not forward is refused with
// the right status and a fault of scproxy's own naming the problem, and
// that the upstream receives nothing at all.
func TestRefusals(t *testing.T) {
	t.Parallel()
	rig := newListenerRig(t)
	post := func(path string, v soap.Version, edit func(*http.Request)) func(*testing.T) reply {
		return func(t *testing.T) reply {
			req, err := newRequest(http.MethodPost, rig.px.base+path, v, echoAction, envelope(v, "", echoPayload("refused")))
			if err != nil {
				t.Fatal(err)
			}
			if edit != nil {
				edit(req)
			}
			return rig.app.send(req)
		}
	}
	forward := func(method, uri string) func(*testing.T) reply {
		return func(t *testing.T) reply {
			req, err := newRequest(method, uri, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("refused")))
			if err != nil {
				t.Fatal(err)
			}
			return rig.app.viaProxy(rig.px.base, req)
		}
	}
	cases := []struct {
		name   string
		send   func(*testing.T) reply
		v      soap.Version
		status int
		code   xmldoc.Name
		words  []string
	}{
		{"unknown path", post("/other", soap.V11, nil), soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"route", "/other"}},
		{"unknown path SOAP 1.2", post("/other", soap.V12, nil), soap.V12, http.StatusNotFound, outbound.CodeNoRoute, []string{"route", "/other"}},
		{"prefix without a segment boundary", post("/ordersX", soap.V11, nil), soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"route", "/ordersX"}},
		{"forward proxy to another host", forward(http.MethodPost, "http://evil.example/x"), soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"evil.example"}},
		{"forward proxy to another host, raw request line", func(t *testing.T) reply {
			return rig.app.raw(rig.px.base, http.MethodPost, rawPost("http://evil.example/x", "evil.example"))
		}, soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"evil.example"}},
		{"forward proxy to another path of the upstream host", func(t *testing.T) reply {
			return forward(http.MethodPost, "http://"+rig.upHost+"/Admin.svc")(t)
		}, soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"/Admin.svc"}},
		{"forward proxy to another port of the upstream host", forward(http.MethodPost, "http://127.0.0.1:1/Echo.svc"), soap.V11, http.StatusNotFound, outbound.CodeNoRoute, nil},
		{"foreign Host header", post("/orders", soap.V11, func(r *http.Request) { r.Host = "attacker.example" }), soap.V11, http.StatusForbidden, outbound.CodeForbidden, []string{"attacker.example"}},
		{"foreign Host header with the proxy's port", func(t *testing.T) reply {
			port := rig.px.base[strings.LastIndexByte(rig.px.base, ':'):]
			return post("/orders", soap.V12, func(r *http.Request) { r.Host = "attacker.example" + port })(t)
		}, soap.V12, http.StatusForbidden, outbound.CodeForbidden, []string{"attacker.example"}},
		{"Origin header", post("/orders", soap.V11, func(r *http.Request) { r.Header.Set("Origin", "http://localhost:3000") }), soap.V11, http.StatusForbidden, outbound.CodeForbidden, []string{"Origin"}},
		{"GET", post("/orders", 0, func(r *http.Request) { r.Method = http.MethodGet; r.Body, r.ContentLength = nil, 0 }), soap.V11, http.StatusMethodNotAllowed, outbound.CodeMethodNotAllow, []string{"GET"}},
		{"PUT", post("/orders", soap.V11, func(r *http.Request) { r.Method = http.MethodPut }), soap.V11, http.StatusMethodNotAllowed, outbound.CodeMethodNotAllow, []string{"PUT"}},
		{"GET through the forward proxy", forward(http.MethodGet, "http://evil.example/"), soap.V11, http.StatusNotFound, outbound.CodeNoRoute, []string{"evil.example"}},
		{"CONNECT to the upstream", func(t *testing.T) reply {
			return rig.app.raw(rig.px.base, http.MethodConnect, "CONNECT "+rig.upHost+" HTTP/1.1\r\nHost: "+rig.upHost+"\r\n\r\n")
		}, soap.V11, http.StatusMethodNotAllowed, outbound.CodeMethodNotAllow, []string{"CONNECT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send(t)
			wantProxyFault(t, r, tc.v, tc.status, tc.code, tc.words...)
			// RFC 9110 §15.5.6: a 405 lists the allowed methods.
			if tc.status == http.StatusMethodNotAllowed && !strings.Contains(r.header.Get("Allow"), http.MethodPost) {
				t.Errorf("405 with Allow %q, want POST", r.header.Get("Allow"))
			}
		})
	}
	if n := rig.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests from refused ones, want none", n)
	}
}

// TestForwardProxyToUpstream checks that an application using scproxy as
// its HTTP proxy, with an http:// URI for the https:// upstream, is
// served.
func TestForwardProxyToUpstream(t *testing.T) {
	t.Parallel()
	rig := newListenerRig(t)
	for i, v := range soap.Versions {
		text := fmt.Sprintf("proxied-%d", i)
		req, err := newRequest(http.MethodPost, "http://"+rig.upHost+"/Echo.svc", v, echoAction, envelope(v, "", echoPayload(text)))
		if err != nil {
			t.Fatal(err)
		}
		wantEcho(t, rig.app.viaProxy(rig.px.base, req), v, text, false)
	}
	wantEcho(t, rig.app.raw(rig.px.base, http.MethodPost, rawPost("http://"+rig.upHost+"/Echo.svc", rig.upHost)), soap.V11, "raw", false)
	if n := len(rig.up.appMessages(t)); n != 3 {
		t.Errorf("upstream received %d application messages, want 3", n)
	}
	// The route's own path works as well.
	wantEcho(t, rig.app.post(rig.px.base+"/orders", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("direct"))), soap.V11, "direct", false)
}

// TestRoutePaths checks how the path below a route's prefix reaches the
// upstream's endpoints configured below it: appended to the upstream's
// path exactly as the application escaped it (RFC 3986 §2.4: decoding or
// re-encoding changes the resource), never escaping the route with dot
// segments (RFC 3986 §5.2.4), which servers resolve before routing, with
// or without ";" parameters, and never reaching a path that is no
// configured endpoint.
func TestRoutePaths(t *testing.T) {
	t.Parallel()
	rig := newListenerRig(t)
	cases := []struct {
		name, path string
		want       string // request URI at the upstream; "" means refused
	}{
		{"prefix", "/orders", "/Echo.svc"},
		{"prefix with slash", "/orders/", "/Echo.svc"},
		{"sub path", "/orders/sub", "/Echo.svc/sub"},
		{"query", "/orders?wsdl", "/Echo.svc?wsdl"},
		{"escaped query", "/orders/x?a=%20b", "/Echo.svc/x?a=%20b"},
		{"escaped space", "/orders/sub%20path", "/Echo.svc/sub%20path"},
		{"escaped UTF-8", "/orders/caf%C3%A9", "/Echo.svc/caf%C3%A9"},
		{"escaped slash", "/orders/a%2Fb", "/Echo.svc/a%2Fb"},
		{"dot segments out of the route", "/orders/../Admin.svc", ""},
		{"escaped dot segments out of the route", "/orders/%2e%2e/Admin.svc", ""},
		{"servlet dot segments out of the route", "/orders/..;/..;/Admin.svc", ""},
		{"escaped servlet dot segments", "/orders/%2e%2e;/Admin.svc", ""},
		{"path parameter", "/orders/sub;jsessionid=1", ""},
		{"a path no endpoint has", "/orders/junk", ""},
		{"below an endpoint", "/orders/sub/more", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rig.up.count()
			r := rig.app.raw(rig.px.base, http.MethodPost, rawPost(tc.path, "127.0.0.1"))
			msgs := rig.up.messages()[before:]
			if tc.want == "" {
				if r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
					t.Errorf("HTTP %d, want the request refused (404 or 400)", r.status)
				}
				for _, m := range msgs {
					t.Errorf("%s escaped its route: the upstream received %s", tc.path, m.uri)
				}
				return
			}
			wantEcho(t, r, soap.V11, "raw", false)
			if len(msgs) == 0 || msgs[len(msgs)-1].uri != tc.want {
				var got []string
				for _, m := range msgs {
					got = append(got, m.uri)
				}
				t.Errorf("%s reached the upstream as %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

// TestPlainHTTPUpstreams: secured traffic to an http:// upstream is refused
// at configuration unless AllowPlainHTTP says it is a test service; plain
// forwarding may use one.
func TestPlainHTTPUpstreams(t *testing.T) {
	plain, err := url.Parse("http://svc.example/Echo.svc")
	if err != nil {
		t.Fatal(err)
	}
	boot := session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	tests := []struct {
		name string
		cfg  outbound.Config
		want string // in the error; "" accepts
	}{
		{"secured", outbound.Config{Routes: routes(plain), Bootstrap: boot}, `upstream "http://svc.example/Echo.svc" is plain http`},
		{"secured, allowed", outbound.Config{Routes: routes(plain), Bootstrap: boot, AllowPlainHTTP: true}, ""},
		{"x509 profile", outbound.Config{Routes: routes(plain), Profile: outbound.ProfileX509}, "plain http"},
		{"plain forwarding", outbound.Config{Routes: routes(plain), Security: outbound.SecurityNone}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), testPassword):
				t.Fatalf("the error holds the password: %v", err)
			}
		})
	}
}

// TestStatusForThisHostOnly: a listener opened beyond this host
// (AllowRemote) serves its status document to callers on this host only;
// a remote caller gets 403 and no endpoint names.
func TestStatusForThisHostOnly(t *testing.T) {
	up, err := url.Parse("https://svc.example/Secret.svc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := outbound.New(outbound.Config{Listen: "0.0.0.0:8780", AllowRemote: true, Routes: routes(up), Security: outbound.SecurityNone})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote string
		want   int
	}{{"127.0.0.1:40000", http.StatusOK}, {"[::1]:40000", http.StatusOK}, {"192.0.2.1:40000", http.StatusForbidden}, {"10.1.2.3:40000", http.StatusForbidden}} {
		req := httptest.NewRequest(http.MethodGet, outbound.StatusPath, nil)
		req.Host, req.RemoteAddr = "127.0.0.1:8780", tt.remote
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("status from %s: HTTP %d, want %d", tt.remote, rec.Code, tt.want)
		}
		if tt.want == http.StatusForbidden && strings.Contains(rec.Body.String(), "Secret.svc") {
			t.Errorf("status from %s names the upstream:\n%s", tt.remote, rec.Body.String())
		}
	}
}
