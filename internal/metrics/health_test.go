package metrics

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scproxy/scproxy/session"
)

// fakeSource is a proxy with fixed endpoints.
type fakeSource struct {
	routes    map[string]string // endpoint → route
	prefixes  []string
	endpoints []session.Status
}

func (f fakeSource) EndpointStatus() []session.Status { return f.endpoints }
func (f fakeSource) RouteOf(ep string) string         { return f.routes[ep] }
func (f fakeSource) Routes() []string                 { return f.prefixes }

func TestEndpointReady(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   session.Status
		want bool
	}{
		{"never used", session.Status{State: session.StateIdle}, true},
		{"active", session.Status{State: session.StateActive, Identifier: "urn:a", Expires: now.Add(time.Hour)}, true},
		{"renewal failed, context still good", session.Status{State: session.StateFailing, Identifier: "urn:a", Expires: now.Add(time.Hour), LastError: "renew refused"}, true},
		{"establishment failed", session.Status{State: session.StateFailing, LastError: "HTTP 503", RetryAt: now.Add(time.Minute)}, false},
		{"establishment failed, backoff over", session.Status{State: session.StateFailing, LastError: "HTTP 503", RetryAt: now.Add(-time.Minute)}, false},
		{"expired and failing", session.Status{State: session.StateFailing, Identifier: "urn:a", Expires: now.Add(-time.Second), LastError: "unreachable"}, false},
		{"closing", session.Status{State: session.StateClosed, LastError: "x"}, true},
	} {
		if got := endpointReady(tc.st, now); got != tc.want {
			t.Errorf("%s: ready %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestReadyHandler: the route with a failed endpoint is named, the other
// routes stay ready, and the listener must be up.
func TestReadyHandler(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := fakeSource{
		prefixes: []string{"/orders", "/stock"},
		routes:   map[string]string{"https://a/Orders.svc": "/orders", "https://b/Stock.svc": "/stock"},
		endpoints: []session.Status{
			{Endpoint: "https://a/Orders.svc", State: session.StateFailing, LastError: "the STS answered HTTP 503", RetryAt: now.Add(time.Minute)},
			{Endpoint: "https://b/Stock.svc", State: session.StateActive, Identifier: "urn:b", Expires: now.Add(time.Hour)},
		},
	}
	m := New(src, func() time.Time { return now })
	get := func() (int, Readiness) {
		rec := httptest.NewRecorder()
		m.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ReadyPath, nil))
		var r Readiness
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return rec.Code, r
	}
	code, r := get()
	if code != http.StatusServiceUnavailable || r.Ready || r.Listening {
		t.Errorf("before listening: %d %+v", code, r)
	}
	m.SetListening(true)
	code, r = get()
	if code != http.StatusServiceUnavailable || r.Ready || len(r.Routes) != 2 {
		t.Fatalf("one failing route: %d %+v", code, r)
	}
	if r.Routes[0].Ready || r.Routes[0].Endpoints[0].LastError == "" || !r.Routes[0].Endpoints[0].RetryAt.Equal(now.Add(time.Minute)) {
		t.Errorf("route /orders: %+v, want not ready with its error and retry time", r.Routes[0])
	}
	if !r.Routes[1].Ready || r.Routes[1].Endpoints[0].LastError != "" {
		t.Errorf("route /stock: %+v, want ready", r.Routes[1])
	}
	src.endpoints[0] = session.Status{Endpoint: "https://a/Orders.svc", State: session.StateActive, Identifier: "urn:c", Expires: now.Add(time.Hour)}
	m.src, m.health.src = src, src
	if code, r = get(); code != http.StatusOK || !r.Ready {
		t.Errorf("after the establishment succeeded: %d %+v", code, r)
	}
}
