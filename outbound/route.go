package outbound

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// router maps requests to upstream URLs. It is the only way out of the
// proxy: a request it does not map is refused, never forwarded.
type router struct {
	routes []Route // longest prefix first
	listen string  // host of the listen address
	remote bool
}

func newRouter(cfg *Config) *router {
	rs := slices.Clone(cfg.Routes)
	slices.SortStableFunc(rs, func(a, b Route) int { return len(b.Prefix) - len(a.Prefix) })
	host, _, _ := net.SplitHostPort(cfg.Listen)
	return &router{routes: rs, listen: host, remote: cfg.AllowRemote}
}

// target returns the upstream URL for r and false when no route takes it.
//
// An origin-form request ("/orders") takes the route with the longest
// prefix ending at a path segment boundary; the rest of the path is added
// to the upstream's. An absolute-form request (the application uses
// scproxy as its HTTP proxy) is taken when its host and path are those of
// a configured upstream, whatever its scheme: an http:// URI may stand for
// the https:// upstream.
func (rt *router) target(r *http.Request) (*url.URL, bool) {
	if r.URL.IsAbs() || r.URL.Host != "" {
		return rt.absolute(r.URL)
	}
	p := r.URL.EscapedPath()
	if hasDotSegment(p) {
		return nil, false
	}
	for _, route := range rt.routes {
		rest, ok := underPrefix(p, route.Prefix)
		if !ok {
			continue
		}
		u := *route.Upstream
		if rest != "" {
			raw := strings.TrimSuffix(u.EscapedPath(), "/") + rest
			path, err := url.PathUnescape(raw)
			if err != nil {
				return nil, false
			}
			u.Path, u.RawPath = path, raw
		}
		if r.URL.RawQuery != "" {
			u.RawQuery = joinQuery(u.RawQuery, r.URL.RawQuery)
		}
		return &u, true
	}
	return nil, false
}

// hasDotSegment reports a "." or ".." segment, escaped or not, or a
// backslash, which some servers take for a slash: a path that could climb
// out of its route is refused rather than normalised.
func hasDotSegment(escaped string) bool {
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return true
	}
	if strings.ContainsRune(unescaped, '\\') {
		return true
	}
	for _, seg := range strings.Split(unescaped, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// underPrefix reports whether path lies under prefix at a segment boundary
// and returns the remainder ("" or starting with "/").
func underPrefix(path, prefix string) (string, bool) {
	if prefix == "/" {
		if path == "/" {
			return "", true
		}
		return path, strings.HasPrefix(path, "/")
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest == "/" {
		rest = ""
	}
	return rest, rest == "" || rest[0] == '/'
}

func joinQuery(a, b string) string {
	if a == "" {
		return b
	}
	return a + "&" + b
}

// absolute maps a forward-proxy request URI to the configured upstream
// with the same host, port and path.
func (rt *router) absolute(in *url.URL) (*url.URL, bool) {
	if in.Scheme != "http" && in.Scheme != "https" || in.User != nil || in.Fragment != "" {
		return nil, false
	}
	for _, route := range rt.routes {
		up := route.Upstream
		if !strings.EqualFold(in.Hostname(), up.Hostname()) || in.EscapedPath() != up.EscapedPath() {
			continue
		}
		if !samePort(in, up) {
			continue
		}
		u := *up
		if in.RawQuery != "" {
			u.RawQuery = joinQuery(u.RawQuery, in.RawQuery)
		}
		return &u, true
	}
	return nil, false
}

// samePort accepts the upstream's own port, and an app's http:// URI on
// the default port for an https:// upstream on its default port.
func samePort(in, up *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	if port(in) == port(up) {
		return true
	}
	return in.Scheme == "http" && up.Scheme == "https" && port(in) == "80" && port(up) == "443"
}

// hostAllowed checks the Host header of an origin-form request: a page in
// a browser that resolves its own name to 127.0.0.1 (DNS rebinding) must
// not reach the proxy, so only loopback names and the listen address are
// accepted, unless the proxy was opened to other hosts on purpose.
func (rt *router) hostAllowed(r *http.Request) bool {
	if r.URL.IsAbs() || rt.remote {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return isLoopbackHost(host) || strings.EqualFold(host, rt.listen)
}

// endpointKey returns the endpoint a request to target reaches, and the
// key that names it wherever endpoints are counted or kept, whatever the
// profile: target without its query and fragment. A service is addressed
// by its path, and an endpoint per query string would let an application
// open any number of contexts (and renewal loops) on one service, or
// grow any table of endpoints. target itself is returned when it has
// neither.
func endpointKey(target *url.URL) (string, *url.URL) {
	if target.RawQuery != "" || target.ForceQuery || target.Fragment != "" {
		e := *target
		e.RawQuery, e.ForceQuery, e.Fragment, e.RawFragment = "", false, "", ""
		target = &e
	}
	return target.String(), target
}
