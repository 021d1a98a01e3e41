package outbound

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/scproxy/scproxy/session"
)

// StatusPath is where the listener reports the state of every endpoint,
// as JSON, to GET requests from this host. It is never routed upstream.
const StatusPath = "/_scproxy/status"

// Status is what StatusPath serves.
type Status struct {
	Security  string           `json:"security"`
	Endpoints []session.Status `json:"endpoints"`
}

// Status returns the state of every endpoint, sorted by address.
func (p *Proxy) Status() Status {
	st := Status{Security: p.cfg.Security.String(), Endpoints: []session.Status{}}
	for _, ep := range p.Endpoints() {
		st.Endpoints = append(st.Endpoints, ep.Status())
	}
	slices.SortFunc(st.Endpoints, func(a, b session.Status) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return st
}

func (p *Proxy) serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return appError(http.StatusMethodNotAllowed, CodeMethodNotAllow, "method %s: the status is read with GET", r.Method)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p.Status())
}
