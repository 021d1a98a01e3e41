package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Endpoint holds the security context of one upstream endpoint. A Pool
// keeps it alive; a request asks it for the context (Context), reports a
// context the server rejected (Invalidate), asks for a renewal the server
// demands (Renew, Reissue), and is counted (CountRequest, CountResend).
type Endpoint struct {
	cfg   Config
	url   string // redacted, for messages
	cache *credcache.Cache[*Context]

	wake chan struct{} // capacity 1: the keeper must look again
	next atomic.Int64  // next scheduled renewal, Unix nanoseconds; 0 when none

	mu      sync.Mutex
	wire    Wire // envelope of the latest exchange, for renewals without a context
	retired []*retired
	// prev is the context the current one replaced, acceptable in answers
	// until prevUntil (ResponseKeys).
	prev      *Context
	prevUntil time.Time
	closing   bool // shutdown has begun: no new exchange starts
	closed    bool // shutdown has collected the contexts to cancel

	stats stats
}

// retired is a context replaced by a new Issue, cancelled by the keeper
// once the rollover has passed (at, on the keeper's clock).
type retired struct {
	ctx *Context
	at  time.Time
}

// stats count an endpoint's activity.
type stats struct {
	requests, resends                     atomic.Int64
	establishes, establishFailures        atomic.Int64
	renewals, renewFailures, renewRefused atomic.Int64
	cancels, cancelFailures               atomic.Int64
	invalidations                         atomic.Int64
}

// Stats are an endpoint's counters at one instant.
type Stats struct {
	Requests, Resends                     int64
	Establishes, EstablishFailures        int64
	Renewals, RenewFailures, RenewRefused int64
	Cancels, CancelFailures               int64
	Invalidations                         int64
}

// New returns an Endpoint for cfg; no context is established until the
// first request asks for one. An Endpoint made by New has no keeper: it
// is renewed only when asked. A Pool makes endpoints with one.
func New(cfg Config) (*Endpoint, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Endpoint{cfg: cfg, url: upstream.Redact(cfg.URL), wake: make(chan struct{}, 1)}
	retryAt := cfg.RetryAt
	if retryAt == nil {
		retryAt = func(time.Time, int) time.Time { return cfg.Now() } // the next request
	}
	e.cache = credcache.New(credcache.Config[*Context]{
		Name:     "security context",
		Lifetime: func(c *Context) (time.Time, time.Time) { return c.Established, c.Expires },
		Margin:   cfg.ExpiryMargin,
		Backoff: func(first time.Time, n int, err error) time.Time {
			if refusedCredential(err) {
				n += renewal.AuthFailureWindows
			}
			return retryAt(first, n)
		},
		// A renewal of c (the same token with a new key) counts as c: see
		// Invalidate.
		Same:    func(a, b *Context) bool { return a == b || a.Identifier() == b.Identifier() },
		Timeout: cfg.Timeout,
		Now:     cfg.Now,
		Changed: e.signal,
	})
	return e, nil
}

// validate refuses a Config an endpoint cannot work with.
func (cfg Config) validate() error {
	switch {
	case cfg.URL == nil:
		return errors.New("session: no endpoint URL")
	case cfg.Bootstrap == nil:
		return errors.New("session: no bootstrap credential")
	case cfg.Client == nil:
		return errors.New("session: no upstream client")
	case cfg.Version == (wssc.Version{}):
		return errors.New("session: no WS-SecureConversation version")
	}
	return nil
}

// withDefaults fills in what cfg leaves open: the package's one place for
// its defaults.
func (cfg Config) withDefaults() Config {
	if cfg.SignatureMethod == "" {
		cfg.SignatureMethod = dsig.HMACSHA1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultEstablishTimeout
	}
	if cfg.Rollover == 0 {
		cfg.Rollover = DefaultRollover
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
	return cfg
}

// URL returns the endpoint's address, redacted for display.
func (e *Endpoint) URL() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	s := &e.stats
	return Stats{
		Requests: s.requests.Load(), Resends: s.resends.Load(),
		Establishes: s.establishes.Load(), EstablishFailures: s.establishFailures.Load(),
		Renewals: s.renewals.Load(), RenewFailures: s.renewFailures.Load(), RenewRefused: s.renewRefused.Load(),
		Cancels: s.cancels.Load(), CancelFailures: s.cancelFailures.Load(), Invalidations: s.invalidations.Load(),
	}
}

// CountRequest counts a request secured with the endpoint's context.
func (e *Endpoint) CountRequest() { e.stats.requests.Add(1) }

// CountResend counts a request signed again and resent after a fault.
func (e *Endpoint) CountResend() { e.stats.resends.Add(1) }

// SignatureMethod is the HMAC algorithm messages are signed with.
func (e *Endpoint) SignatureMethod() string { return e.cfg.SignatureMethod }

// Current returns the context in use (possibly expired), or nil.
func (e *Endpoint) Current() *Context {
	c, _ := e.cache.Peek()
	return c
}

// signal tells the keeper (coalescing) that the context was replaced or
// dropped, an exchange failed, or a context was retired.
func (e *Endpoint) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// live reports whether c exists at the server still: it has not expired.
func (e *Endpoint) live(c *Context) bool { return c != nil && !c.Expired(e.cfg.Now()) }

// HeldError is returned without contacting the STS while an endpoint
// waits to retry after failures: requests fail at once rather than queue.
type HeldError = credcache.HeldError

// Context returns a usable context, establishing one when there is none
// or it has expired, and renewing it first when it is within the expiry
// margin (Config.ExpiryMargin).
// Concurrent callers share one exchange, enveloped as w says (the caller
// that starts it decides). The exchange runs on its own deadline,
// detached from ctx: a caller that gives up stops waiting but the others
// still get the context. After a failure, callers get a *HeldError at
// once until the retry time.
func (e *Endpoint) Context(ctx context.Context, w Wire) (*Context, error) {
	if c, ok := e.cache.Usable(); ok {
		return c, nil
	}
	if cur := e.Current(); e.live(cur) {
		// Within the margin of its expiry: renewed before use, not used.
		return e.Renew(ctx, cur)
	}
	c, err := e.cache.Get(ctx, e.exchangeFor(nil, w, false))
	return c, e.waitError(ctx, wssc.Issue, err)
}

// Renew replaces old by renewing it (or by a new Issue when the server
// cannot renew, when old has expired, or in Reissue mode), unless old has
// been replaced already, in which case the current context is returned.
// However many callers ask about the same old context, one exchange is
// made. A nil old renews the current context.
func (e *Endpoint) Renew(ctx context.Context, old *Context) (*Context, error) {
	if old == nil {
		old = e.Current()
	}
	c, err := e.cache.Refresh(ctx, old, e.exchangeFor(old, Wire{}, true))
	return c, e.waitError(ctx, wssc.Renew, err)
}

// Reissue drops old, which the server no longer knows (a recycle, an idle
// timeout), and establishes a new context, unless old has been replaced
// already. A renewal of old under way when the server dropped it hands
// back old's token with a new key, as dead as the old one: it is dropped
// in turn, and a new context established.
func (e *Endpoint) Reissue(ctx context.Context, old *Context) (*Context, error) {
	for range 2 {
		e.Invalidate(old)
		c, err := e.Context(ctx, old.Wire)
		if err != nil || c.Identifier() != old.Identifier() {
			return c, err
		}
	}
	e.Invalidate(old)
	return e.Context(ctx, old.Wire)
}

// Invalidate drops c if it is still the current context, so that the
// next request establishes a new one; a context already replaced is left
// alone, so that many requests failing with the same context cause one
// establishment. A renewal of c (the same token with a new key) counts as
// c: a server rejects a token, whichever key signed the message, so a
// request signed before a renewal that meets a recycle must not be resent
// with the renewed key of the dead token. It reports whether c was
// dropped.
func (e *Endpoint) Invalidate(c *Context) bool {
	if c == nil || !e.cache.Invalidate(c) {
		return false
	}
	e.stats.invalidations.Add(1)
	return true
}

// waitError names what a caller of the cache was refused: the backoff's
// hold, the shutdown, or its own context ending.
func (e *Endpoint) waitError(ctx context.Context, op wssc.Operation, err error) error {
	var held *credcache.HeldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &held):
		return e.fail(op, held)
	case errors.Is(err, credcache.ErrClosed):
		return e.fail(wssc.Issue, errors.New("the proxy is shutting down"))
	case ctx.Err() != nil && err == ctx.Err():
		return fmt.Errorf("session: waiting for a security context with %s: %w", e.url, err)
	}
	return err
}

// exchangeFor returns the exchange that replaces the context: a renewal
// of old (renew) or a new Issue enveloped as w (by default as the latest
// exchange, or old, was).
func (e *Endpoint) exchangeFor(old *Context, w Wire, renew bool) credcache.Fetch[*Context] {
	if w == (Wire{}) {
		e.mu.Lock()
		w = e.wire
		e.mu.Unlock()
		if old != nil {
			w = old.Wire
		}
	}
	return func(ctx context.Context) (*Context, error) { return e.run(ctx, old, w, renew) }
}

// run makes one exchange, under the cache's deadline, and records it.
func (e *Endpoint) run(ctx context.Context, old *Context, w Wire, renew bool) (*Context, error) {
	start := e.cfg.Now()
	var (
		c      *Context
		err    error
		issued bool
	)
	if renew && old != nil && e.cfg.RenewMode == RenewInPlace && !old.Expired(start) {
		c, err = e.renew(ctx, old)
		var f *soap.Fault
		// A Renew carries the bootstrap credential: when the service
		// refuses that, an Issue with it would only be refused again (a
		// second failed login); the refusal waits like an Issue's.
		if errors.As(err, &f) && !f.Has(failedAuthentication) {
			// The server cannot renew this context: establish a new one.
			e.stats.renewRefused.Add(1)
			e.cfg.Logger.Warn("renewal refused; issuing a new security context", "endpoint", e.url, "identifier", old.Identifier(), "fault", f.Error())
			c, err, issued = nil, nil, true
		}
	} else {
		issued = true
	}
	if issued && err == nil {
		c, err = e.issue(ctx, w)
	}
	e.record(old, c, err, issued, start)
	return c, err
}

// ExpiredError is an STS answer granting a context that has expired
// already, or expires within the expiry margin (Config.ExpiryMargin,
// clamped to a quarter of the lifetime the STS states, from its Created):
// it is refused as a failed exchange, with its backoff, rather than used
// and replaced at once, over and over. The STS's clock, or this host's,
// is wrong.
type ExpiredError struct {
	Expires, At time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("the STS granted a context expiring at %s, unusable at %s (past, or within the expiry margin): is the STS's clock or this host's wrong?",
		e.Expires.UTC().Format(time.RFC3339), e.At.UTC().Format(time.RFC3339))
}

// refusedCredential reports whether err is the STS refusing the
// credential of an Issue: a SOAP fault of class Sender answering an Issue
// (wsse:FailedAuthentication, wsse:InvalidSecurity,
// wsse:InvalidSecurityToken, WCF's generic security fault: the STS blames
// the request, so the same request fails again). A Receiver fault, an
// HTTP error, a timeout or an unreachable STS are the service's trouble
// and retried on the ordinary windows. A refused credential waits
// renewal.AuthFailureWindows more: every refusal counts against the
// account's lockout threshold.
func refusedCredential(err error) bool {
	var se *Error
	var f *soap.Fault
	if !errors.As(err, &se) || !errors.As(err, &f) {
		return false
	}
	switch se.Op {
	case wssc.Issue:
		return f.Class() == soap.Sender
	case wssc.Renew:
		return f.Has(failedAuthentication)
	}
	return false
}

// failedAuthentication is WS-Security's fault for a credential the
// service refused (WS-Security 1.0 §12).
var failedAuthentication = xmldoc.Name{Space: wss.NSWSSE, Local: "FailedAuthentication"}

// record counts an exchange's outcome, retires the context a new Issue
// replaced, and logs: before the waiters wake, so that a log read in
// order shows the context before the requests that use it.
func (e *Endpoint) record(old, c *Context, err error, issued bool, start time.Time) {
	what := map[bool]string{true: "established", false: "renewed"}[issued]
	if err != nil {
		if issued {
			e.stats.establishFailures.Add(1)
		} else {
			e.stats.renewFailures.Add(1)
		}
		e.cfg.Logger.Warn("security context not "+what, "endpoint", e.url, "error", err)
		return
	}
	if issued {
		e.stats.establishes.Add(1)
	} else {
		e.stats.renewals.Add(1)
	}
	e.mu.Lock()
	e.wire = c.Wire
	e.rolled(old, c, e.cfg.Now())
	if issued && e.live(old) && old.Identifier() != c.Identifier() {
		e.retire(old)
	}
	e.mu.Unlock()
	e.cfg.Logger.Info("security context "+what, "endpoint", e.url, "identifier", c.Token.Identifier,
		"expires", c.Expires, "bootstrap", e.cfg.Bootstrap.Kind(), "took", e.cfg.Now().Sub(start))
}

// retire keeps old for the rollover, after which the keeper cancels it.
// Called with e.mu held.
func (e *Endpoint) retire(old *Context) {
	if !e.cfg.CancelReplaced || e.closed {
		return
	}
	e.retired = append(e.retired, &retired{ctx: old, at: time.Now().Add(max(e.cfg.Rollover, 0))})
	e.signal()
}

// shutdown stops new exchanges, waits for the one under way (so that what
// it makes is cancelled too), then cancels every context still valid, the
// current one and those replaced but not yet cancelled, each under the
// endpoint's timeout and ctx. With cancel false nothing is sent
// (stateful-cookie servers need no cancel). It returns the first failure;
// a failed cancel is logged and does not stop the others.
func (e *Endpoint) shutdown(ctx context.Context, cancel bool) error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	_ = e.cache.Close(ctx)
	e.mu.Lock()
	e.closed = true
	var live []*Context
	for _, r := range e.retired {
		if e.live(r.ctx) {
			live = append(live, r.ctx)
		}
	}
	e.retired = nil
	if c := e.Current(); e.live(c) {
		live = append(live, c)
	}
	e.mu.Unlock()
	if !cancel {
		return nil
	}
	var first error
	for _, c := range live {
		if err := e.cancel(ctx, c); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// cancel sends WS-Trust Cancel for c, under the endpoint's timeout and
// ctx, and records the outcome.
func (e *Endpoint) cancel(ctx context.Context, c *Context) error {
	ctx, stop := context.WithTimeout(ctx, e.cfg.Timeout)
	defer stop()
	err := e.cancelExchange(ctx, c)
	if err != nil {
		e.stats.cancelFailures.Add(1)
		e.cfg.Logger.Warn("security context not cancelled", "endpoint", e.url, "identifier", c.Identifier(), "error", err)
		return err
	}
	e.stats.cancels.Add(1)
	if e.Current() == c {
		e.cache.Invalidate(c)
	}
	e.cfg.Logger.Info("security context cancelled", "endpoint", e.url, "identifier", c.Identifier())
	return nil
}

// State names what an endpoint is doing.
type State string

// States of an endpoint.
const (
	StateIdle     State = "idle"     // no context yet
	StateActive   State = "active"   // a usable context
	StateRenewing State = "renewing" // an exchange is under way
	StateFailing  State = "failing"  // the last exchange failed; retrying
	StateExpired  State = "expired"  // the context has expired
	StateClosed   State = "closed"   // shut down
)

// Status is a snapshot of an endpoint for display.
type Status struct {
	Endpoint    string    `json:"endpoint"`
	State       State     `json:"state"`
	Identifier  string    `json:"identifier,omitempty"`
	Established time.Time `json:"established,omitzero"`
	Expires     time.Time `json:"expires,omitzero"`
	NextRenewal time.Time `json:"next_renewal,omitzero"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
	Requests    int64     `json:"requests"`
	Establishes int64     `json:"establishes"`
	Renewals    int64     `json:"renewals"`
	Resends     int64     `json:"resends"`
	Cancels     int64     `json:"cancels"`
	Failures    int64     `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Bootstrap   string    `json:"bootstrap"`
	SCVersion   string    `json:"sc_version"`
	RenewMode   string    `json:"renew_mode"`
}

// Status returns the endpoint's state and counters. It holds no secret:
// errors never carry one.
func (e *Endpoint) Status() Status {
	cs := e.cache.State()
	e.mu.Lock()
	closing := e.closing
	e.mu.Unlock()
	s := e.Stats()
	st := Status{
		Endpoint: e.url, Bootstrap: e.cfg.Bootstrap.Kind(), SCVersion: e.cfg.Version.String(), RenewMode: e.cfg.RenewMode.String(),
		Requests: s.Requests, Establishes: s.Establishes, Renewals: s.Renewals, Resends: s.Resends, Cancels: s.Cancels,
		Failures: s.EstablishFailures + s.RenewFailures + s.CancelFailures,
	}
	c := cs.Value
	if cs.Held {
		st.Identifier, st.Established, st.Expires = c.Identifier(), c.Established, c.Expires
	}
	if n := e.next.Load(); n != 0 {
		st.NextRenewal = time.Unix(0, n).UTC()
	}
	if cs.Err != nil {
		st.LastError, st.LastErrorAt, st.RetryAt = cs.Err.Error(), cs.LastFailure, cs.RetryAt
	}
	switch {
	case closing:
		st.State = StateClosed
	case cs.Fetching:
		st.State = StateRenewing
	case cs.Err != nil:
		st.State = StateFailing
	case !cs.Held:
		st.State = StateIdle
	case c.Expired(e.cfg.Now()):
		st.State = StateExpired
	default:
		st.State = StateActive
	}
	return st
}
