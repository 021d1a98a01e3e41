package outbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DefaultMaxEndpoints bounds the upstream endpoints one proxy holds
// contexts for when Config.MaxEndpoints is zero: each route's upstream
// and the endpoints configured for it.
const DefaultMaxEndpoints = session.DefaultMaxEndpoints

// Proxy is the local listener's handler and the endpoints it secures.
type Proxy struct {
	cfg    Config
	router *router
	// clients holds one HTTP client per route, by its upstream: a client
	// allows 64 connections to a host, and an endpoint whose service hangs
	// holds every one it gets, so a shared client would leave the other
	// endpoints on that host waiting. client, when set, serves every route
	// instead (tests replace the network this way).
	clients map[*url.URL]*upstream.Client
	client  *upstream.Client
	limits  xmldoc.Limits
	// idPrefix starts the wsu:Ids scproxy adds, unpredictable so that the
	// unread Body cannot hold the same ones.
	idPrefix string
	now      func() time.Time
	rand     io.Reader
	// sec secures each bridged request under the configured profile.
	sec securer

	// pool owns the endpoints, their keepers and their shutdown.
	pool *session.Pool
	// establish bounds the establishments of each route, by its upstream.
	establish map[*url.URL]*rate.Limiter

	// bodies is the budget of request bodies in flight; conns limits the
	// connections of the listener served last.
	bodies *budget
	conns  atomic.Pointer[connLimiter]

	// obs is told of every request (Observe); local serves the local
	// paths added by HandleLocal.
	obs   Observer
	local map[string]http.Handler
	// front, when set, makes this the listener of a Front, which
	// handles the requests and owns the services shut down at the end.
	front *Front
}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:      cfg,
		router:   newRouter(&cfg),
		clients:  routeClients(&cfg),
		limits:   xmldoc.Limits{MaxBytes: int(cfg.MaxBody)},
		idPrefix: "_sc" + hex.EncodeToString(b[:]),
		now:      time.Now,
		rand:     rand.Reader,
		pool: session.NewPool(session.PoolConfig{
			MaxEndpoints: cfg.MaxEndpoints, Renewal: cfg.Renewal, KeepContexts: cfg.KeepContexts,
			IdleTimeout: max(cfg.EndpointIdleTimeout, 0),
		}),
		establish: establishLimits(&cfg),
	}
	p.bodies = &budget{limit: cfg.MaxBodyInFlight}
	var err error
	if p.sec, err = newSecurer(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Endpoint returns the session of the upstream endpoint of u (see
// router.endpoint), creating it on first use. A URL that is no endpoint
// (a path below a route that is neither its upstream nor one of its
// configured endpoints) is refused.
func (p *Proxy) Endpoint(u *url.URL) (*session.Endpoint, error) {
	key, u, route, ok := p.router.endpoint(u)
	if !ok {
		return nil, fmt.Errorf("%s is not a configured endpoint", upstream.Redact(u))
	}
	return p.pool.Endpoint(key, func() session.Config { return p.sessionConfig(u, route) })
}

// sessionConfig maps the proxy's settings to those of the endpoint u
// under route: the one place they are copied.
func (p *Proxy) sessionConfig(u *url.URL, route *Route) session.Config {
	return session.Config{
		URL: u, Version: p.cfg.SC, Entropy: p.cfg.Entropy, KeySize: p.cfg.KeySize,
		SignatureMethod: p.cfg.SignatureMethod, Bootstrap: p.bootstrapFor(route), Client: p.clientFor(u),
		Timeout: p.cfg.EstablishTimeout, Limits: p.limits, Logger: p.cfg.Logger,
		RenewMode: p.cfg.RenewMode, Rollover: p.cfg.Rollover, CancelReplaced: !p.cfg.KeepContexts,
		ExpiryMargin: p.cfg.ExpiryMargin, Message: p.messageProtection(route),
	}
}

// routeClients makes a client for each route.
func routeClients(cfg *Config) map[*url.URL]*upstream.Client {
	clients := map[*url.URL]*upstream.Client{}
	for _, r := range cfg.Routes {
		clients[r.Upstream] = upstream.New(upstream.Config{
			RootCAs: cfg.RootCAs, Timeout: cfg.UpstreamTimeout, MaxBody: cfg.MaxBody,
		})
	}
	return clients
}

// establishLimits makes the token bucket of each route: EstablishRate a
// minute, as many at once, and at least one per endpoint of the route, so
// that the first request to each can establish together.
func establishLimits(cfg *Config) map[*url.URL]*rate.Limiter {
	limits := map[*url.URL]*rate.Limiter{}
	if cfg.EstablishRate < 0 {
		return limits
	}
	for _, r := range cfg.Routes {
		limits[r.Upstream] = rate.NewLimiter(rate.Limit(float64(cfg.EstablishRate)/60), max(cfg.EstablishRate, 1+len(r.Endpoints)))
	}
	return limits
}

// clientFor returns the client for requests to u, a URL the router made
// from a route's upstream: that route's client (the one with the longest
// upstream path u is under).
func (p *Proxy) clientFor(u *url.URL) *upstream.Client {
	if p.client != nil {
		return p.client
	}
	if _, _, route, _ := p.router.endpoint(u); route != nil {
		return p.clients[route.Upstream]
	}
	return p.clients[p.cfg.Routes[0].Upstream] // unreachable: every target comes from a route
}

// underUpstream reports whether path is base or lies under it.
func underUpstream(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	return len(path) == len(base) || strings.HasSuffix(base, "/") || path[len(base)] == '/'
}

// bootstrapFor returns the credential that establishes the contexts of
// the endpoints under route: its own, else the proxy's; bounded by the
// route's establishment limit.
func (p *Proxy) bootstrapFor(route *Route) session.Bootstrap {
	b := p.cfg.Bootstrap
	if route.Bootstrap != nil {
		b = route.Bootstrap
	}
	if b == nil {
		return nil
	}
	if l := p.establish[route.Upstream]; l != nil {
		return limitedBootstrap{Bootstrap: b, limit: l, now: p.now, route: route.Prefix, rate: p.cfg.EstablishRate}
	}
	return b
}

// limitedBootstrap is a bootstrap that lends its credential to at most
// the route's establishment rate: over it, the Issue fails at once,
// without contacting the service, and the endpoint waits to retry.
type limitedBootstrap struct {
	session.Bootstrap
	limit *rate.Limiter
	now   func() time.Time
	route string
	rate  int
}

// Secure adds the credential when the route's bucket has a token.
func (b limitedBootstrap) Secure(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, error) {
	// A Renew carries the credential too (endorsed by the context): it
	// is no establishment, and the keeper already paces renewals.
	if o.Endorse == nil {
		if err := b.allow(); err != nil {
			return nil, err
		}
	}
	return b.Bootstrap.Secure(ctx, env, o)
}

// allow takes a token from the route's bucket, or says there is none.
func (b limitedBootstrap) allow() error {
	if !b.limit.AllowN(b.now(), 1) {
		return fmt.Errorf("route %s made more than %d establishments in a minute; not sending another now", b.route, b.rate)
	}
	return nil
}

// String is the credential's own (which holds no secret).
func (b limitedBootstrap) String() string { return fmt.Sprint(b.Bootstrap) }

// LogValue is String.
func (b limitedBootstrap) LogValue() slog.Value { return slog.StringValue(b.String()) }

// Endpoints returns the endpoints in use.
func (p *Proxy) Endpoints() []*session.Endpoint { return p.pool.Endpoints() }

// Listen opens the configured listen address.
func (p *Proxy) Listen() (net.Listener, error) {
	if p.cfg.ListenUnix != "" { // instead of the TCP address
		return listenUnix(p.cfg.ListenUnix, p.cfg.ListenUnixMode)
	}
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", p.cfg.Listen, err)
	}
	return ln, nil
}

// Timeouts of the local listener. The application is on this host, so a
// client slower than this is stuck or hostile. Variables only so that the
// slow-client tests can shorten them.
var (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

// Run listens on the configured address and serves until ctx ends.
func (p *Proxy) Run(ctx context.Context) error {
	ln, err := p.Listen()
	if err != nil {
		return err
	}
	return p.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down, all within
// ShutdownTimeout: it stops accepting, lets the requests in flight finish
// for three quarters of it, then answers those still waiting with a fault
// (503, the proxy is shutting down), stops the renewal loops and cancels
// every live context, all endpoints in parallel, each call under the
// establish timeout, in what is left. A failed cancel is logged and does
// not hold up the others. At most MaxConns connections are open at once.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	ln = p.guardCallers(ln) // only the callers the configuration allows
	conns := limitConns(ln, p.cfg.MaxConns)
	p.conns.Store(conns)
	requests, stopRequests := context.WithCancelCause(context.Background())
	defer stopRequests(nil)
	srv := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelWarn),
		// "OPTIONS *" reaches the handler, which refuses it like any
		// request no route takes, rather than net/http's 200.
		DisableGeneralOptionsHandler: true,
		BaseContext:                  func(net.Listener) context.Context { return requests },
	}
	p.cfg.Logger.Info("scproxy listening", "addr", ln.Addr().String(), "routes", len(p.cfg.Routes), "security", p.cfg.Security.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(conns) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return p.shutdown(context.WithoutCancel(ctx), srv, errc, stopRequests)
}

// errShuttingDown is the cause of the requests stopped at shutdown.
var errShuttingDown = errors.New("the proxy is shutting down")

// shutdown drains srv and closes the pool within ShutdownTimeout (see
// Serve); errc has what srv.Serve returned.
func (p *Proxy) shutdown(ctx context.Context, srv *http.Server, errc <-chan error, stopRequests context.CancelCauseFunc) error {
	timeout := p.cfg.ShutdownTimeout
	start := time.Now() // deadlines of real sockets and calls: the wall clock, not p.now
	within := func(part time.Duration) (context.Context, context.CancelFunc) {
		return context.WithDeadline(ctx, start.Add(part))
	}
	p.cfg.Logger.Info("shutting down: waiting for requests in flight", "timeout", timeout)
	all, cancel := within(timeout)
	defer cancel()
	drain, cancelDrain := within(timeout * 3 / 4)
	defer cancelDrain()
	err := srv.Shutdown(drain)
	if errors.Is(err, context.DeadlineExceeded) {
		p.cfg.Logger.Warn("requests still in flight at three quarters of the shutdown timeout: answering them with a fault", "timeout", timeout)
		stopRequests(errShuttingDown)
		answered, cancelAnswered := within(timeout * 7 / 8)
		if srv.Shutdown(answered) != nil {
			_ = srv.Close()
		}
		cancelAnswered()
		err = fmt.Errorf("requests were still in flight when the shutdown timeout (%s) was near; they were answered with a fault", timeout)
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	p.Shutdown(all)
	for _, c := range p.clients {
		c.CloseIdle()
	}
	return err
}

// Shutdown stops the renewal loops and cancels every live context (unless
// KeepContexts), endpoints in parallel. It is idempotent; Serve calls it.
func (p *Proxy) Shutdown(ctx context.Context) {
	if p.front != nil {
		p.front.closeAll(ctx)
		return
	}
	_ = p.pool.Close(ctx)
}

// handler is what serves the listener's requests: the Front p listens
// for, or p.
func (p *Proxy) handler() http.Handler {
	if p.front != nil {
		return p.front
	}
	return p
}
