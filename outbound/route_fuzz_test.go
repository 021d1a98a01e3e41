package outbound

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzRouterTarget parses arbitrary request lines and Host headers as
// net/http does and routes them. Whatever the request, the router either
// refuses it or names a URL on a configured upstream's scheme and host,
// at its path or at one of its configured endpoints (contexts secure
// nothing else), without credentials, fragment, dot segments (also after
// cutting ";" parameters and decoding), ";", NUL or backslash below the
// route, and no longer than MaxRequestTarget. Seeds (each form of request
// target, escapes, backslashes, servlet "..;" escapes, a long path) are
// in testdata/fuzz/FuzzRouterTarget.
func FuzzRouterTarget(f *testing.F) {
	ups := []*url.URL{
		mustParse(f, "https://up.example/Echo.svc"),
		mustParse(f, "https://other.example:8443/Svc/Deep.svc"),
		mustParse(f, "http://plain.example/"),
	}
	rt := newRouter(&Config{Listen: "127.0.0.1:8780", Routes: []Route{
		{Prefix: "/a", Upstream: ups[0], Endpoints: []string{"/x", "/op"}}, {Prefix: "/b/deep", Upstream: ups[1]}, {Prefix: "/c/", Upstream: ups[2]},
	}})
	f.Fuzz(func(t *testing.T, method, target, host string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		_ = rt.hostAllowed(r)
		u, ok := rt.target(r)
		if !ok {
			return
		}
		if u.User != nil || u.Fragment != "" {
			t.Fatalf("%q routed to %s, with credentials or a fragment", target, u)
		}
		if len(r.URL.EscapedPath())+len(r.URL.RawQuery) > MaxRequestTarget {
			t.Fatalf("%q routed to %s, over MaxRequestTarget", target, u)
		}
		for _, up := range ups {
			if u.Scheme == up.Scheme && u.Host == up.Host && underUpstream(u.Path, up.Path) {
				if hasDotSegment(strings.TrimPrefix(u.EscapedPath(), strings.TrimSuffix(up.EscapedPath(), "/"))) {
					t.Fatalf("%q routed to %s, with a dot segment, \";\", NUL or backslash", target, u)
				}
				if _, _, _, ok := rt.endpoint(u); !ok {
					t.Fatalf("%q routed to %s, which is no configured endpoint", target, u)
				}
				return
			}
		}
		t.Fatalf("%q (Host %q) routed to %s, under no configured upstream", target, host, u)
	})
}

func mustParse(f *testing.F, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		f.Fatal(err)
	}
	return u
}
