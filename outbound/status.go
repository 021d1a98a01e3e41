package outbound

import (
	"encoding/json"
	"net/http"
	"runtime"

	"github.com/scproxy/scproxy/session"
)

// StatusPath is where the listener reports the state of every endpoint,
// as JSON, to GET requests from this host. It is never routed upstream.
const StatusPath = "/_scproxy/status"

// Status is what StatusPath serves.
type Status struct {
	Security string `json:"security"`
	// Profile is how messages are secured ("sc-tls" or "x509"); empty
	// when Security is none.
	Profile   string           `json:"profile,omitempty"`
	Endpoints []session.Status `json:"endpoints"`
	// Signed counts the messages signed per endpoint under the x509
	// profile, which keeps no context and so has no Endpoints entry.
	Signed []SignedCount `json:"signed,omitempty"`
	// Message is the protection of the message profile (each endpoint's
	// bootstrap binding is in its Bootstrap).
	Message *MessageStatus `json:"message,omitempty"`
	// Runtime describes the proxy process, for capacity checks and the
	// performance harness (allocations per message from two readings).
	Runtime Runtime `json:"runtime"`
}

// Runtime is the Go runtime's view of the proxy process
// (runtime.ReadMemStats): counters since the start, so that the
// difference between two readings is what the messages in between cost.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc"`  // bytes of live heap objects
	TotalAlloc uint64 `json:"total_alloc"` // bytes allocated since start
	Mallocs    uint64 `json:"mallocs"`     // heap objects allocated since start
	NumGC      uint32 `json:"num_gc"`
}

// readRuntime reads the runtime's counters. ReadMemStats stops the world
// for a moment: fine for a status request, not for every message.
func readRuntime() Runtime {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Runtime{Goroutines: runtime.NumGoroutine(), HeapAlloc: m.HeapAlloc, TotalAlloc: m.TotalAlloc, Mallocs: m.Mallocs, NumGC: m.NumGC}
}

// Status returns the state of every endpoint, sorted by address.
func (p *Proxy) Status() Status {
	if p.front != nil {
		return p.front.Status()
	}
	st := p.endpointStatus()
	st.Runtime = readRuntime()
	return st
}

// endpointStatus is Status without the runtime's counters.
func (p *Proxy) endpointStatus() Status {
	st := Status{Security: p.cfg.Security.String(), Endpoints: p.pool.Status()}
	if p.cfg.Security == SecurityContext {
		st.Profile = p.cfg.Profile.String()
	}
	p.sec.status(&st)
	return st
}

// serveLocal serves a local status path (the status, health, metrics) to
// callers on this host only: the status names every upstream, context
// identifier and last error, which a listener opened beyond this host
// (AllowRemote) must not show its other callers.
func serveLocal(w http.ResponseWriter, r *http.Request, h http.Handler) error {
	if !localCaller(r) {
		return appError(http.StatusForbidden, CodeForbidden, "the status is served to callers on this host only")
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return appError(http.StatusMethodNotAllowed, CodeMethodNotAllow, "method %s: the status is read with GET", r.Method)
	}
	h.ServeHTTP(w, r)
	return nil
}

// writeStatus writes the status document.
func (p *Proxy) writeStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(p.Status())
}
