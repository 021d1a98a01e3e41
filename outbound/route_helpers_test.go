package outbound

import (
	"net/http"
	"net/url"
)

// Test-only views of the router.

// target returns the upstream URL for r and false when no route takes it
// (route says why).
func (rt *router) target(r *http.Request) (*url.URL, bool) {
	u, err := rt.route(r)
	return u, err == nil
}

// hasDotSegment reports a path that checkPath or checkAppended refuses:
// the fuzz target's oracle for a routed URL's appended part.
func hasDotSegment(escaped string) bool {
	return checkPath(escaped) != "" || checkAppended(escaped) != ""
}
