package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DefaultEstablishTimeout bounds one establishment when Config leaves it open.
const DefaultEstablishTimeout = 30 * time.Second

// Wire is how the STS messages of a context are enveloped: the SOAP and
// WS-Addressing versions the upstream speaks.
type Wire struct {
	SOAP       soap.Version
	Addressing wsa.Version
}

// Config configures an Endpoint.
type Config struct {
	// URL is the upstream endpoint; its STS is at the same address, as
	// WCF hosts it.
	URL *url.URL
	// Version is the WS-SecureConversation version.
	Version wssc.Version
	// Entropy and KeySize (bits; 0 = 256) shape the Issue request.
	Entropy wssc.EntropyMode
	KeySize int
	// SignatureMethod signs messages with the context key (dsig.HMACSHA1
	// when empty).
	SignatureMethod string
	// Bootstrap authenticates the Issue request.
	Bootstrap Bootstrap
	// Client posts to the upstream.
	Client *upstream.Client
	// Timeout bounds one establishment.
	Timeout time.Duration
	// Limits bound parsing of STS responses.
	Limits xmldoc.Limits
	// Now and Rand default to the system clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// Logger receives one line per establishment; never a secret.
	Logger *slog.Logger
}

// Context is an established security context. It is immutable; a renewal
// or a new establishment makes a new one.
type Context struct {
	// Version and Token: the SCT as issued, kept byte for byte.
	Version wssc.Version
	Token   *wssc.SCT
	// Wire is the envelope the STS exchange used.
	Wire Wire
	// Established and Expires are the local time of establishment and the
	// end of the token's lifetime (zero when the server stated none).
	Established, Expires time.Time

	key  []byte
	memo sync.Map
}

// Memo returns the value stored under key for this context, computing it
// with build on first use: what its users derive from the context once
// (such as a precomputed header) lives and dies with it. Concurrent first
// calls may each build; one value is kept.
func (c *Context) Memo(key any, build func() (any, error)) (any, error) {
	if v, ok := c.memo.Load(key); ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	v, _ = c.memo.LoadOrStore(key, v)
	return v, nil
}

// Identifier returns the context's identifier URI.
func (c *Context) Identifier() string { return c.Token.Identifier }

// String names the context by its identifier; never its key.
func (c *Context) String() string { return "context " + c.Token.Identifier }

// GoString is String, so that %#v cannot print the key.
func (c *Context) GoString() string { return c.String() }

// Secure returns what wire/secure needs to sign with this context.
func (c *Context) Secure() secure.Context {
	return secure.Context{Version: c.Version, Token: c.Token, Key: c.key}
}

// Expired reports whether the token's lifetime has ended at now.
func (c *Context) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}

// Endpoint holds the security context of one upstream endpoint.
type Endpoint struct {
	cfg Config
	url string // redacted, for messages

	cur atomic.Pointer[Context]

	mu       sync.Mutex
	inflight *call

	stats Stats
}

// call is one establishment that requests wait for.
type call struct {
	done chan struct{}
	ctx  *Context
	err  error
}

// Stats count an endpoint's activity.
type Stats struct {
	Establishes, EstablishFailures, Invalidations atomic.Int64
}

// New returns an Endpoint for cfg; no context is established until the
// first request asks for one.
func New(cfg Config) (*Endpoint, error) {
	switch {
	case cfg.URL == nil:
		return nil, errors.New("session: no endpoint URL")
	case cfg.Bootstrap == nil:
		return nil, errors.New("session: no bootstrap credential")
	case cfg.Client == nil:
		return nil, errors.New("session: no upstream client")
	case cfg.Version == (wssc.Version{}):
		return nil, errors.New("session: no WS-SecureConversation version")
	}
	if cfg.SignatureMethod == "" {
		cfg.SignatureMethod = dsig.HMACSHA1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultEstablishTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Endpoint{cfg: cfg, url: upstream.Redact(cfg.URL)}, nil
}

// URL returns the endpoint's address, redacted for display.
func (e *Endpoint) URL() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// SignatureMethod is the HMAC algorithm messages are signed with.
func (e *Endpoint) SignatureMethod() string { return e.cfg.SignatureMethod }

// Current returns the context in use, or nil.
func (e *Endpoint) Current() *Context { return e.cur.Load() }

// Context returns a usable context, establishing one when there is none or
// it has expired. Concurrent callers share one establishment, enveloped as
// w says (the caller that starts it decides). The establishment runs on
// its own deadline, detached from ctx: a caller that gives up stops
// waiting but the others still get the context.
func (e *Endpoint) Context(ctx context.Context, w Wire) (*Context, error) {
	if c := e.cur.Load(); c != nil && !c.Expired(e.cfg.Now()) {
		return c, nil
	}
	e.mu.Lock()
	if c := e.cur.Load(); c != nil && !c.Expired(e.cfg.Now()) {
		e.mu.Unlock()
		return c, nil
	}
	cl := e.inflight
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		e.inflight = cl
		go e.establish(context.WithoutCancel(ctx), w, cl)
	}
	e.mu.Unlock()
	select {
	case <-cl.done:
		return cl.ctx, cl.err
	case <-ctx.Done():
		return nil, fmt.Errorf("session: waiting for a security context with %s: %w", e.url, ctx.Err())
	}
}

func (e *Endpoint) establish(ctx context.Context, w Wire, cl *call) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := e.cfg.Now()
	c, err := e.issue(ctx, w)
	e.mu.Lock()
	if err == nil {
		e.cur.Store(c)
		e.stats.Establishes.Add(1)
	} else {
		e.stats.EstablishFailures.Add(1)
	}
	e.inflight = nil
	cl.ctx, cl.err = c, err
	e.mu.Unlock()
	close(cl.done)
	if err != nil {
		e.cfg.Logger.Warn("security context not established", "endpoint", e.url, "error", err)
		return
	}
	e.cfg.Logger.Info("security context established", "endpoint", e.url, "identifier", c.Token.Identifier,
		"expires", c.Expires, "bootstrap", e.cfg.Bootstrap.Kind(), "took", e.cfg.Now().Sub(start))
}

// Invalidate drops c if it is still the current context, so that the
// next request establishes a new one; a context already replaced is left
// alone, so that many requests failing with the same context cause one
// establishment. It reports whether c was dropped.
func (e *Endpoint) Invalidate(c *Context) bool {
	ok := e.cur.CompareAndSwap(c, nil)
	if ok {
		e.stats.Invalidations.Add(1)
	}
	return ok
}
