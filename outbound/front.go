package outbound

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/splice"
)

// Service is one upstream service behind a Front: its name and the Proxy
// that secures its routes with the service's own settings, contexts and
// credential.
type Service struct {
	Name  string
	Proxy *Proxy
}

// Front is the local listener in front of several services: it owns the
// listener and its limits (callers, connections, bodies in flight) and
// hands each request to the service whose route takes it. The set of
// services is replaced as a whole (Replace) while requests are served:
// a service kept keeps its contexts, one dropped drains and is shut down.
type Front struct {
	// lp serves the listener with the listener's settings: it answers
	// what no service takes (the status, a request no route takes).
	lp     *Proxy
	bodies *budget
	table  atomic.Pointer[frontTable]
	// mu serialises Replace, Observe and the final shutdown.
	mu     sync.Mutex
	closed bool
	// obs is told of every service's requests (Observe).
	obs Observer
}

// frontTable is one set of services and their routes.
type frontTable struct {
	services []*frontService
	// routes are every service's route prefixes, longest first.
	routes []frontRoute
	// fallback answers what no service takes, as a single Proxy with
	// every route of the table would: its router refuses it.
	fallback *Proxy
}

type frontRoute struct {
	route Route
	svc   *frontService
}

// frontService is a service as the Front holds it. A request holds gate
// for reading while its service serves it; retiring the service takes it
// for writing, so it waits for the requests in flight, and sets retired.
type frontService struct {
	Service
	gate    sync.RWMutex
	retired bool
}

// NewFront returns a Front listening with the listener settings of cfg
// (Listen, AllowRemote, ListenUnix, ListenUnixMode, AllowUIDs,
// AnyLocalUser, MaxConns, MaxBodyInFlight, MaxBody, ShutdownTimeout,
// Logger; its Routes and security settings are not used) in front of
// services, each a new Proxy not serving on its own. The bodies in flight
// of every service count against the one MaxBodyInFlight.
func NewFront(cfg Config, services []Service) (*Front, error) {
	cfg.Routes = nil
	cfg = cfg.withDefaults()
	if err := CheckListen(cfg.Listen, cfg.AllowRemote); err != nil {
		return nil, err
	}
	if err := cfg.checkCallers(); err != nil {
		return nil, err
	}
	f := &Front{bodies: &budget{limit: cfg.MaxBodyInFlight}}
	f.lp = &Proxy{cfg: cfg, router: newRouter(&cfg), front: f, bodies: f.bodies, sec: noService{}}
	t, err := f.newTable(services)
	if err != nil {
		return nil, err
	}
	f.lp.cfg.Routes = t.fallback.cfg.Routes // for the log line of Serve
	f.table.Store(t)
	return f, nil
}

// newTable returns the table of services, their services charging the
// Front's budget of bodies in flight.
func (f *Front) newTable(services []Service) (*frontTable, error) {
	t, err := newFrontTable(services)
	if err != nil {
		return nil, err
	}
	cfg := f.lp.cfg
	cfg.Routes = nil
	for _, r := range t.routes {
		cfg.Routes = append(cfg.Routes, r.route)
	}
	t.fallback = &Proxy{cfg: cfg, router: newRouter(&cfg), front: f, bodies: f.bodies, sec: noService{}}
	t.fallback.router.endpointsOnly = false
	t.fallback.obs = f.obs
	for _, s := range t.services {
		// A service served already charges it and tells the observer: not
		// written again under its requests.
		if s.Proxy.bodies != f.bodies {
			s.Proxy.bodies = f.bodies
		}
		if f.obs != nil && s.Proxy.obs != f.obs {
			s.Proxy.obs = f.obs
		}
	}
	return t, nil
}

// noService is the securer of the requests no service takes, which the
// router refuses before anything is secured: it refuses them too. Only
// secure is ever reached (the first step that would use a profile).
type noService struct{ securer }

func (noService) secure(_ context.Context, target *url.URL, _ session.Wire, _ *splice.Message) (sealed, error) {
	return sealed{}, appError(http.StatusNotFound, CodeNoRoute, "no service takes %s", upstream.Redact(target))
}

// newFrontTable checks that no two services share a name or a route
// prefix and sorts the routes, longest prefix first.
func newFrontTable(services []Service) (*frontTable, error) {
	t := &frontTable{}
	names := map[string]bool{}
	owner := map[string]string{}
	for _, s := range services {
		if names[s.Name] {
			return nil, setting.Errorf("Services", s.Name, "two services have this name")
		}
		names[s.Name] = true
		fs := &frontService{Service: s}
		t.services = append(t.services, fs)
		for _, r := range s.Proxy.cfg.Routes {
			if other, ok := owner[r.Prefix]; ok {
				return nil, setting.Errorf("Routes", r.Prefix, "services %s and %s both take this prefix", other, s.Name)
			}
			owner[r.Prefix] = s.Name
			t.routes = append(t.routes, frontRoute{route: r, svc: fs})
		}
	}
	slices.SortStableFunc(t.routes, func(a, b frontRoute) int { return cmp.Compare(len(b.route.Prefix), len(a.route.Prefix)) })
	return t, nil
}

// Listen opens the listener's address.
func (f *Front) Listen() (net.Listener, error) { return f.lp.Listen() }

// Run listens and serves until ctx ends (Proxy.Run).
func (f *Front) Run(ctx context.Context) error { return f.lp.Run(ctx) }

// Serve serves on ln until ctx ends, then shuts down as Proxy.Serve does:
// every service's contexts are cancelled at the end.
func (f *Front) Serve(ctx context.Context, ln net.Listener) error { return f.lp.Serve(ctx, ln) }

// Services returns the services served now.
func (f *Front) Services() []Service {
	t := f.table.Load()
	out := make([]Service, len(t.services))
	for i, s := range t.services {
		out[i] = s.Service
	}
	return out
}

// Replace serves services from now on. A Proxy of the current set that is
// in services again is kept as it is, its contexts with it; every other
// one is retired: it takes no new request, the requests it is serving
// may finish within ShutdownTimeout, then its renewals stop and its
// contexts are cancelled (Proxy.Shutdown). Replace returns once every
// retired service is shut down, within ShutdownTimeout and the time its
// cancels take (each bounded by its establish timeout). A set with two
// services of one name or on one prefix is refused and nothing changes.
func (f *Front) Replace(ctx context.Context, services []Service) error {
	t, err := f.newTable(services)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("the proxy is shutting down")
	}
	old := f.table.Load()
	kept := map[*Proxy]*frontService{}
	for _, s := range old.services {
		kept[s.Proxy] = s
	}
	for i, s := range t.services {
		if prev, ok := kept[s.Proxy]; ok {
			// The same service, with its gate: requests it is serving
			// stay counted.
			t.services[i] = prev
			delete(kept, s.Proxy)
		}
	}
	for i := range t.routes {
		t.routes[i].svc = t.serviceOf(t.routes[i].svc.Proxy)
	}
	f.table.Store(t)
	retired := make([]*frontService, 0, len(kept))
	for _, s := range old.services {
		if _, gone := kept[s.Proxy]; gone {
			retired = append(retired, s)
		}
	}
	f.retire(ctx, retired)
	return nil
}

// serviceOf returns the service of t served by p.
func (t *frontTable) serviceOf(p *Proxy) *frontService {
	for _, s := range t.services {
		if s.Proxy == p {
			return s
		}
	}
	return nil
}

// retire drains and shuts down services, all in parallel, within the
// shutdown timeout (see Replace).
func (f *Front) retire(ctx context.Context, services []*frontService) {
	timeout := f.lp.cfg.ShutdownTimeout
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			drained := make(chan struct{})
			go func() {
				s.gate.Lock()
				s.retired = true
				s.gate.Unlock()
				close(drained)
			}()
			timer := time.NewTimer(timeout)
			defer timer.Stop()
			select {
			case <-drained:
			case <-timer.C:
				f.lp.cfg.Logger.Warn("requests still in flight on a removed service at the shutdown timeout: cancelling its contexts under them", "service", s.Name, "timeout", timeout)
			}
			s.Proxy.shutdownService(ctx)
			f.lp.cfg.Logger.Info("service stopped", "service", s.Name)
		})
	}
	wg.Wait()
}

// shutdownService stops p's renewals, cancels its contexts and closes
// its idle upstream connections.
func (p *Proxy) shutdownService(ctx context.Context) {
	p.Shutdown(ctx)
	for _, c := range p.clients {
		c.CloseIdle()
	}
}

// closeAll shuts down every service, in parallel, at the end of Serve.
// No Replace runs after it.
func (f *Front) closeAll(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var wg sync.WaitGroup
	for _, s := range f.table.Load().services {
		wg.Go(func() { s.Proxy.shutdownService(ctx) })
	}
	wg.Wait()
}

// pick returns the service whose route takes r, or nil: an origin-form
// request by the longest prefix of every service's routes, an
// absolute-form one by its upstream.
func (t *frontTable) pick(r *http.Request) *frontService {
	if r.URL.IsAbs() || r.URL.Host != "" {
		for _, s := range t.services {
			if _, ok := s.Proxy.router.absolute(r.URL); ok {
				return s
			}
		}
		return nil
	}
	p := r.URL.EscapedPath()
	for _, route := range t.routes {
		if _, ok := underPrefix(p, route.route.Prefix); ok {
			return route.svc
		}
	}
	return nil
}

// maxPicks bounds the attempts to find a service that is not retired, in
// case replacements follow each other faster than a request is taken.
const maxPicks = 4

// ServeHTTP hands r to the service whose route takes it. What no service
// takes (the status, a path no route takes, a method or origin refused
// before routing) is answered by the listener as by a single Proxy.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, local := f.lp.localHandler(r); local {
		f.lp.ServeHTTP(w, r)
		return
	}
	for range maxPicks {
		t := f.table.Load()
		s := t.pick(r)
		if s == nil {
			t.fallback.ServeHTTP(w, r)
			return
		}
		s.gate.RLock()
		if !s.retired {
			defer s.gate.RUnlock()
			s.Proxy.ServeHTTP(w, r)
			return
		}
		// Retired between the pick and the gate: the table has changed.
		s.gate.RUnlock()
	}
	appError(http.StatusServiceUnavailable, CodeNoContext, "the configuration is being replaced; try again").write(w, versionHint(r))
}

// Status is the status of every service together: their endpoints and
// signed counts; Security and Profile are the services' when they all
// agree, else "mixed".
func (f *Front) Status() Status {
	var st Status
	for i, s := range f.table.Load().services {
		ss := s.Proxy.endpointStatus()
		if i == 0 {
			st.Security, st.Profile = ss.Security, ss.Profile
		}
		if ss.Security != st.Security {
			st.Security = "mixed"
		}
		if ss.Profile != st.Profile {
			st.Profile = "mixed"
		}
		st.Endpoints = append(st.Endpoints, ss.Endpoints...)
		st.Signed = append(st.Signed, ss.Signed...)
	}
	slices.SortFunc(st.Endpoints, func(a, b session.Status) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	st.Runtime = readRuntime()
	return st
}
