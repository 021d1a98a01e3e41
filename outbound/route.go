package outbound

import (
	"fmt"
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
	// endpointsOnly refuses a path under a route that is neither the
	// route's upstream nor one of its configured endpoints: set when
	// requests are secured with security contexts, each scoped to the
	// address it was issued for (see endpoint).
	endpointsOnly bool
	// endpoints holds each route's Endpoints, by its prefix.
	endpoints map[string]map[string]bool
}

func newRouter(cfg *Config) *router {
	rs := slices.Clone(cfg.Routes)
	slices.SortStableFunc(rs, func(a, b Route) int { return len(b.Prefix) - len(a.Prefix) })
	host, _, _ := net.SplitHostPort(cfg.Listen)
	eps := map[string]map[string]bool{}
	for _, r := range rs {
		eps[r.Prefix] = map[string]bool{}
		for _, e := range r.Endpoints {
			eps[r.Prefix][e] = true
		}
	}
	return &router{routes: rs, listen: host, remote: cfg.AllowRemote, endpoints: eps,
		endpointsOnly: cfg.keepsContexts()}
}

// isEndpoint reports whether rest, a path below route's upstream, is one
// of its configured endpoints.
func (rt *router) isEndpoint(route *Route, rest string) bool { return rt.endpoints[route.Prefix][rest] }

// MaxRequestTarget bounds the path and query of a request, in bytes as
// sent: a SOAP endpoint's address is short, and every byte of a path may
// end up in a log line or an endpoint's name.
const MaxRequestTarget = 2048

// route returns the upstream URL for r, or the fault that refuses it: 414
// for a request target over MaxRequestTarget, 404 for a path that could
// climb out of its route (see checkAppended), when no route takes it, or
// when it names no endpoint of its route.
//
// An origin-form request ("/orders") takes the route with the longest
// prefix ending at a path segment boundary; the rest of the path is added
// to the upstream's. An absolute-form request (the application uses
// scproxy as its HTTP proxy) is taken when its host and path are those of
// a configured upstream or one of its endpoints, whatever its scheme: an
// http:// URI may stand for the https:// upstream.
func (rt *router) route(r *http.Request) (*url.URL, error) {
	if n := len(r.URL.EscapedPath()) + len(r.URL.RawQuery); n > MaxRequestTarget {
		return nil, appError(http.StatusRequestURITooLong, CodeBadRequest, "request target of %d bytes is over the limit of %d bytes", n, MaxRequestTarget)
	}
	if r.URL.IsAbs() || r.URL.Host != "" {
		if u, ok := rt.absolute(r.URL); ok {
			return u, nil
		}
		return nil, rt.noRoute(r)
	}
	p := r.URL.EscapedPath()
	if reason := checkPath(p); reason != "" {
		return nil, rt.refused(r, reason)
	}
	for _, route := range rt.routes {
		rest, ok := underPrefix(p, route.Prefix)
		if !ok {
			continue
		}
		if reason := checkAppended(rest); reason != "" {
			return nil, rt.refused(r, reason)
		}
		if rt.endpointsOnly && rest != "" && !rt.isEndpoint(&route, rest) {
			return nil, appError(http.StatusNotFound, CodeNoRoute, "%s is not an endpoint of route %s: a security context serves the address it was issued for, so only the route's upstream and the endpoints configured for it are secured (%s)",
				r.URL.EscapedPath(), route.Prefix, endpointList(route))
		}
		u := *route.Upstream
		if rest != "" {
			raw := strings.TrimSuffix(u.EscapedPath(), "/") + rest
			path, err := url.PathUnescape(raw)
			if err != nil {
				return nil, rt.refused(r, "malformed escape")
			}
			u.Path, u.RawPath = path, raw
		}
		if r.URL.RawQuery != "" {
			u.RawQuery = joinQuery(u.RawQuery, r.URL.RawQuery)
		}
		return &u, nil
	}
	return nil, rt.noRoute(r)
}

// refused is the fault for a path that could climb out of its route:
// no route takes it.
func (rt *router) refused(r *http.Request, reason string) error {
	return appError(http.StatusNotFound, CodeNoRoute, "no route for %s: %s", r.URL.EscapedPath(), reason)
}

// noRoute is the fault for a request no route takes.
func (rt *router) noRoute(r *http.Request) error {
	prefixes := make([]string, len(rt.routes))
	for i, route := range rt.routes {
		prefixes[i] = route.Prefix
	}
	return appError(http.StatusNotFound, CodeNoRoute, "no route for %s; configured routes: %s", describeRequest(r), strings.Join(prefixes, ", "))
}

// endpointList names a route's endpoints by their local paths, the first
// few of them.
func endpointList(route Route) string {
	const shown = 8
	base := strings.TrimSuffix(route.Prefix, "/")
	names := []string{route.Prefix}
	for _, e := range route.Endpoints[:min(len(route.Endpoints), shown)] {
		names = append(names, base+e)
	}
	if n := len(route.Endpoints) - shown; n > 0 {
		names = append(names, fmt.Sprintf("and %d more", n))
	}
	return strings.Join(names, ", ")
}

// checkPath returns why a whole escaped path is refused, or "": a
// backslash, which some servers take for a slash, or a dot segment
// ("." or ".."), found after cutting each segment's ";" parameters and
// after decoding (the path as sent, decoded once, and decoded again for a
// server that decodes twice; an escaped "/" makes segments of its own),
// which servers resolve before routing, so that the request could climb
// out of its route; servlet containers, for one, take "..;x" and
// "%2e%2e;" for "..". A path that is no valid escape is refused too.
func checkPath(escaped string) string {
	dec, err := url.PathUnescape(escaped)
	if err != nil {
		return "malformed escape"
	}
	again, err := url.PathUnescape(dec)
	if err != nil {
		again = dec // no server decodes this twice
	}
	for _, p := range []string{escaped, dec, again} {
		if strings.ContainsRune(p, '\\') {
			return "a backslash, which some servers take for a slash"
		}
		for _, seg := range strings.Split(p, "/") {
			if seg, _, _ = strings.Cut(seg, ";"); seg == "." || seg == ".." {
				return "a dot segment could leave the route"
			}
		}
	}
	return ""
}

// checkAppended returns why the part of a path appended to an upstream's
// is refused, or "": besides dot segments, a ";" (path parameters, which
// servers cut before routing), a NUL, and a backslash (which some servers
// take for a slash), escaped or not.
func checkAppended(rest string) string {
	dec, err := url.PathUnescape(rest)
	if err != nil {
		return "malformed escape"
	}
	for _, s := range []string{rest, dec} {
		switch {
		case strings.Contains(s, ";"):
			return `";" (path parameters) in the path below the route`
		case strings.Contains(s, "\x00"):
			return "NUL in the path below the route"
		case strings.Contains(s, "\\"):
			return "backslash in the path below the route"
		}
	}
	return checkPath(rest)
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

// absolute maps a forward-proxy request URI to the configured upstream,
// or one of its endpoints, with the same host, port and path.
func (rt *router) absolute(in *url.URL) (*url.URL, bool) {
	if in.Scheme != "http" && in.Scheme != "https" || in.User != nil || in.Fragment != "" {
		return nil, false
	}
	for _, route := range rt.routes {
		up := route.Upstream
		if !strings.EqualFold(in.Hostname(), up.Hostname()) || !samePort(in, up) {
			continue
		}
		u := *up
		switch rest, ok := strings.CutPrefix(in.EscapedPath(), strings.TrimSuffix(up.EscapedPath(), "/")); {
		case in.EscapedPath() == up.EscapedPath():
		case ok && rt.isEndpoint(&route, rest):
			u.RawPath = strings.TrimSuffix(up.EscapedPath(), "/") + rest
			u.Path, _ = url.PathUnescape(u.RawPath)
		default:
			continue
		}
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

// endpoint returns the endpoint a request to target reaches (see
// endpointKey) and the route whose upstream it lies under, the one with
// the longest upstream path. ok is false when target is no endpoint: when
// endpointsOnly, only a route's upstream and the endpoints configured
// for it are (a security context is scoped to the address it was issued
// for: a caller does not make endpoints by inventing paths).
func (rt *router) endpoint(target *url.URL) (key string, ep *url.URL, route *Route, ok bool) {
	key, ep = endpointKey(target)
	for i := range rt.routes {
		up := rt.routes[i].Upstream
		if up.Scheme != ep.Scheme || up.Host != ep.Host || !underUpstream(ep.Path, up.Path) {
			continue
		}
		if route == nil || len(up.Path) > len(route.Upstream.Path) {
			route = &rt.routes[i]
		}
	}
	if route == nil {
		return key, ep, nil, false
	}
	rest := strings.TrimPrefix(ep.EscapedPath(), strings.TrimSuffix(route.Upstream.EscapedPath(), "/"))
	if rest == "/" {
		rest = ""
	}
	return key, ep, route, !rt.endpointsOnly || rest == "" || rt.isEndpoint(route, rest)
}

// maxLoggedPath bounds the part of a request's path a log line shows.
const maxLoggedPath = 256

// logPath returns r's path for a log line: escaped, and cut at
// maxLoggedPath bytes, so that a caller cannot grow the log by sending
// long paths.
func logPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if len(p) > maxLoggedPath {
		return p[:maxLoggedPath] + fmt.Sprintf("…(%d bytes)", len(p))
	}
	return p
}
