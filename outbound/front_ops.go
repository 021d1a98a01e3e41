package outbound

import (
	"net/http"
	"slices"
	"strings"

	"github.com/scproxy/scproxy/session"
)

// The Front serves what a single Proxy serves for monitoring: the local
// paths (HandleLocal) on its listener, every service's requests told to
// one Observer, and the endpoints of every service as a metrics source.

// Observe has every service, those served now and those a later Replace
// adds, tell o of its requests. Call it before Serve.
func (f *Front) Observe(o Observer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs = o
	f.lp.obs = o
	for _, s := range f.table.Load().services {
		s.Proxy.obs = o
	}
}

// HandleLocal serves h at path (below /_scproxy/) on the Front's
// listener, as Proxy.HandleLocal does. Call it before Serve.
func (f *Front) HandleLocal(path string, h http.Handler) { f.lp.HandleLocal(path, h) }

// EndpointStatus is the status of every service's endpoints, sorted by
// address.
func (f *Front) EndpointStatus() []session.Status {
	var out []session.Status
	for _, s := range f.table.Load().services {
		out = append(out, s.Proxy.EndpointStatus()...)
	}
	slices.SortFunc(out, func(a, b session.Status) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// RouteOf is the prefix of the route of the service endpoint lies under,
// "" when none.
func (f *Front) RouteOf(endpoint string) string {
	for _, s := range f.table.Load().services {
		if r := s.Proxy.RouteOf(endpoint); r != "" {
			return r
		}
	}
	return ""
}

// Routes are the prefixes of every service's routes.
func (f *Front) Routes() []string {
	var out []string
	for _, s := range f.table.Load().services {
		out = append(out, s.Proxy.Routes()...)
	}
	return out
}
