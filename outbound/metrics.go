package outbound

import (
	"net/http"
	"net/url"
	"time"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/wssc"
)

// Observer is told what becomes of the requests the proxy serves: what
// no endpoint counter holds (requests under every profile, faults by
// origin and kind, upstream latency, requests in flight). Its methods
// run on the requests' goroutines and must not block. The local status
// paths (StatusPath, HandleLocal's) are not observed.
type Observer interface {
	// RequestStarted is called as a request arrives, RequestDone once
	// it is answered: route is the prefix of the route that took it (""
	// when none did).
	RequestStarted()
	RequestDone(route string, o Outcome)
	// UpstreamCall is called after each call to a route's upstream (a
	// resent request makes two), failed when no answer came.
	UpstreamCall(route string, d time.Duration, failed bool)
}

// Outcome is what became of one request.
type Outcome struct {
	// Status is the HTTP status the application was answered with.
	Status int
	// Origin says whose fault the answer is (FaultNone when it is none);
	// Kind, from a small fixed set, what fault: for scproxy's own, its
	// fault code's local name (BadRequest, UpstreamUnreachable, ...); for
	// the service's, what it says of the context (FaultKinds).
	Origin FaultOrigin
	Kind   string
}

// FaultOrigin says who raised a fault.
type FaultOrigin string

// Origins of a fault.
const (
	FaultNone     FaultOrigin = ""
	FaultOurs     FaultOrigin = "ours"     // scproxy answered with a fault of its own
	FaultUpstream FaultOrigin = "upstream" // the service's fault, passed on
)

// FaultKinds names the kinds of a service's fault, by what it says of
// the security context (wssc.ClassifyFault).
var FaultKinds = map[wssc.ContextFault]string{
	wssc.ContextUsable:        "service",
	wssc.ContextRenewNeeded:   "renew-needed",
	wssc.ContextRejected:      "context-rejected",
	wssc.ContextSecurityFault: "security",
}

// Observe has o told of every request. Call it before Serve.
func (p *Proxy) Observe(o Observer) { p.obs = o }

// HandleLocal serves h at path (below /_scproxy/) to GET requests from
// this host, like StatusPath: health and metrics. Call it before Serve.
func (p *Proxy) HandleLocal(path string, h http.Handler) {
	if p.local == nil {
		p.local = map[string]http.Handler{}
	}
	p.local[path] = h
}

// localHandler returns the handler of a local status path r asks for.
func (p *Proxy) localHandler(r *http.Request) (http.Handler, bool) {
	if r.URL.IsAbs() {
		return nil, false
	}
	if r.URL.Path == StatusPath {
		return http.HandlerFunc(p.writeStatus), true
	}
	h, ok := p.local[r.URL.Path]
	return h, ok
}

// RouteOf returns the prefix of the route an endpoint (its URL as
// session.Status shows it) lies under, "" for none.
func (p *Proxy) RouteOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return p.routeOf(u)
}

// routeOf returns the prefix of the route whose upstream u lies under.
func (p *Proxy) routeOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	if _, _, route, _ := p.router.endpoint(u); route != nil {
		return route.Prefix
	}
	return ""
}

// Routes returns the prefix of every route.
func (p *Proxy) Routes() []string {
	out := make([]string, len(p.cfg.Routes))
	for i, r := range p.cfg.Routes {
		out[i] = r.Prefix
	}
	return out
}

// EndpointStatus is the status of the endpoints, sorted by address.
func (p *Proxy) EndpointStatus() []session.Status { return p.pool.Status() }

// observe tells the observer that x has arrived and returns what tells
// it that x is answered, through w.
func (x *exchange) observe(w *answerWriter) func() {
	obs := x.p.obs
	if obs == nil {
		return func() {}
	}
	if _, local := x.p.localHandler(x.r); local {
		return func() {}
	}
	obs.RequestStarted()
	return func() {
		x.outcome.Status = w.status
		obs.RequestDone(x.p.routeOf(x.target), x.outcome)
	}
}

// noteFault records the fault x is answered with.
func (x *exchange) noteFault(origin FaultOrigin, kind string) {
	x.outcome.Origin, x.outcome.Kind = origin, kind
}

// observeCall tells the observer of one upstream call that began at start.
func (x *exchange) observeCall(start time.Time, err error) {
	if x.p.obs != nil {
		x.p.obs.UpstreamCall(x.p.routeOf(x.target), x.p.now().Sub(start), err != nil)
	}
}
