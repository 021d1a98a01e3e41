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
// at or under its path, without credentials, fragment or dot segments.
// Seeds (each form of request target, escapes, backslashes) are in
// testdata/fuzz/FuzzRouterTarget.
func FuzzRouterTarget(f *testing.F) {
	ups := []*url.URL{
		mustParse(f, "https://up.example/Echo.svc"),
		mustParse(f, "https://other.example:8443/Svc/Deep.svc"),
		mustParse(f, "http://plain.example/"),
	}
	rt := newRouter(&Config{Listen: "127.0.0.1:8780", Routes: []Route{
		{Prefix: "/a", Upstream: ups[0]}, {Prefix: "/b/deep", Upstream: ups[1]}, {Prefix: "/c/", Upstream: ups[2]},
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
		for _, up := range ups {
			if u.Scheme == up.Scheme && u.Host == up.Host && underUpstream(u.Path, up.Path) {
				if hasDotSegment(u.EscapedPath()) {
					t.Fatalf("%q routed to %s, with a dot segment", target, u)
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
