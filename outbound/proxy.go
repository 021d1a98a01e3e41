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
	"time"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DefaultMaxEndpoints bounds the upstream endpoints one proxy holds
// contexts for when Config.MaxEndpoints is zero; paths under a route are
// endpoints of their own.
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
		}),
	}
	p.sec = newSecurer(p)
	return p, nil
}

// Endpoint returns the session of the upstream endpoint of u (see
// endpointKey), creating it on first use.
func (p *Proxy) Endpoint(u *url.URL) (*session.Endpoint, error) {
	key, u := endpointKey(u)
	return p.pool.Endpoint(key, func() session.Config { return p.sessionConfig(u, key) })
}

// sessionConfig maps the proxy's settings to those of the endpoint u
// whose key is key: the one place they are copied.
func (p *Proxy) sessionConfig(u *url.URL, key string) session.Config {
	return session.Config{
		URL: u, Version: p.cfg.SC, Entropy: p.cfg.Entropy, KeySize: p.cfg.KeySize,
		SignatureMethod: p.cfg.SignatureMethod, Bootstrap: p.bootstrapFor(key), Client: p.clientFor(u),
		Timeout: p.cfg.EstablishTimeout, Limits: p.limits, Logger: p.cfg.Logger,
		RenewMode: p.cfg.RenewMode, Rollover: p.cfg.Rollover, CancelReplaced: !p.cfg.KeepContexts,
		ExpiryMargin: p.cfg.ExpiryMargin,
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

// clientFor returns the client for requests to u, a URL the router made
// from a route's upstream: that route's client (the one with the longest
// upstream path u is under).
func (p *Proxy) clientFor(u *url.URL) *upstream.Client {
	if p.client != nil {
		return p.client
	}
	var best *url.URL
	for _, r := range p.cfg.Routes {
		up := r.Upstream
		if up.Scheme == u.Scheme && up.Host == u.Host && underUpstream(u.Path, up.Path) && (best == nil || len(up.Path) > len(best.Path)) {
			best = up
		}
	}
	if best == nil {
		best = p.cfg.Routes[0].Upstream // unreachable: every target comes from a route
	}
	return p.clients[best]
}

// underUpstream reports whether path is base or lies under it.
func underUpstream(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	return len(path) == len(base) || strings.HasSuffix(base, "/") || path[len(base)] == '/'
}

// bootstrapFor returns the credential for the upstream whose URL is key:
// its route's own, else the proxy's.
func (p *Proxy) bootstrapFor(key string) session.Bootstrap {
	for _, r := range p.cfg.Routes {
		if r.Bootstrap != nil && r.Upstream.String() == key {
			return r.Bootstrap
		}
	}
	return p.cfg.Bootstrap
}

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

// Serve serves on ln until ctx ends, then shuts down: it stops accepting,
// lets the requests in flight finish (up to ShutdownTimeout), stops the
// renewal loops and cancels every live context, all endpoints in
// parallel, each call under the establish timeout. A failed cancel is
// logged and does not hold up the others.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	ln = p.guardCallers(ln) // only the callers the configuration allows
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelWarn),
		// "OPTIONS *" reaches the handler, which refuses it like any
		// request no route takes, rather than net/http's 200.
		DisableGeneralOptionsHandler: true,
	}
	p.cfg.Logger.Info("scproxy listening", "addr", ln.Addr().String(), "routes", len(p.cfg.Routes), "security", p.cfg.Security.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	p.cfg.Logger.Info("shutting down: waiting for requests in flight", "timeout", p.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("requests were still in flight when the shutdown timeout (%s) passed", p.cfg.ShutdownTimeout)
	}
	if err != nil {
		p.cfg.Logger.Warn("requests still in flight at the shutdown timeout", "error", err)
	}
	p.Shutdown(context.WithoutCancel(ctx))
	for _, c := range p.clients {
		c.CloseIdle()
	}
	return err
}

// Shutdown stops the renewal loops and cancels every live context (unless
// KeepContexts), endpoints in parallel. It is idempotent; Serve calls it.
func (p *Proxy) Shutdown(ctx context.Context) {
	_ = p.pool.Close(ctx)
}
