package metrics

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/session"
)

// health answers the liveness and readiness checks.
type health struct {
	src Source
	now func() time.Time
	// listening is true from the moment the listener is bound until
	// shutdown begins.
	listening atomic.Bool
}

// SetListening says whether the listener is up: true once it is bound,
// false when shutdown begins.
func (h *health) SetListening(up bool) { h.listening.Store(up) }

// Readiness is what ReadyPath answers: ready when the listener is up and
// every route can secure requests.
type Readiness struct {
	Ready     bool         `json:"ready"`
	Listening bool         `json:"listening"`
	Routes    []RouteReady `json:"routes"`
}

// RouteReady is one route's readiness: it is ready unless one of its
// endpoints has no usable context and failed to establish one.
type RouteReady struct {
	Route     string          `json:"route"`
	Ready     bool            `json:"ready"`
	Endpoints []EndpointReady `json:"endpoints,omitempty"`
}

// EndpointReady is one endpoint's readiness, with the failure that makes
// it not ready and when it is tried again.
type EndpointReady struct {
	Endpoint  string        `json:"endpoint"`
	Ready     bool          `json:"ready"`
	State     session.State `json:"state"`
	LastError string        `json:"last_error,omitempty"`
	RetryAt   time.Time     `json:"retry_at,omitzero"`
}

// endpointReady says whether an endpoint can secure a request now: it
// holds an unexpired context, or has not failed to establish one (none
// established yet, or the last attempt succeeded). An endpoint whose
// last establishment failed is not ready, through its backoff, until an
// establishment succeeds.
func endpointReady(st session.Status, now time.Time) bool {
	if st.State == session.StateClosed {
		return true // being dropped; a new one is made on the next request
	}
	usable := st.Identifier != "" && (st.Expires.IsZero() || now.Before(st.Expires))
	return usable || st.LastError == ""
}

// Readiness reads the proxy's readiness now.
func (h *health) Readiness() Readiness {
	now := h.now()
	r := Readiness{Listening: h.listening.Load()}
	r.Ready = r.Listening
	byRoute := map[string]*RouteReady{}
	for _, prefix := range h.src.Routes() {
		r.Routes = append(r.Routes, RouteReady{Route: prefix, Ready: true})
	}
	for i := range r.Routes {
		byRoute[r.Routes[i].Route] = &r.Routes[i]
	}
	for _, st := range h.src.EndpointStatus() {
		rr := byRoute[h.src.RouteOf(st.Endpoint)]
		if rr == nil {
			continue
		}
		e := EndpointReady{Endpoint: st.Endpoint, Ready: endpointReady(st, now), State: st.State}
		if !e.Ready {
			e.LastError, e.RetryAt = st.LastError, st.RetryAt
			rr.Ready, r.Ready = false, false
		}
		rr.Endpoints = append(rr.Endpoints, e)
	}
	return r
}

// HealthHandler answers the liveness check: 200 while the process serves.
func (h *health) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// ReadyHandler answers the readiness check: 200 when ready, else 503,
// with the Readiness as JSON either way.
func (h *health) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r := h.Readiness()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	})
}
