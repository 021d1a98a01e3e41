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

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// Endpoint holds the security context of one upstream endpoint.
type Endpoint struct {
	cfg Config
	url string // redacted, for messages

	cur     atomic.Pointer[Context]
	changed chan struct{} // capacity 1: the context was replaced or dropped
	next    atomic.Int64  // next scheduled renewal, Unix nanoseconds; 0 when none

	mu       sync.Mutex
	inflight *call
	wire     Wire // envelope of the latest exchange, for renewals without a context
	failing  failure
	retired  []*retired
	closing  bool // Shutdown has begun: no new exchange starts
	closed   bool // Shutdown has collected the contexts to cancel

	stats Stats
}

// failure is the run of consecutive failed exchanges.
type failure struct {
	n       int
	first   time.Time
	last    time.Time
	err     error
	retryAt time.Time
}

// retired is a context replaced by a new Issue, cancelled once the
// rollover has passed.
type retired struct {
	ctx   *Context
	timer *time.Timer
	done  bool
}

// call is one exchange that replaces the context; requests wait for it.
type call struct {
	done chan struct{}
	ctx  *Context
	err  error
}

// Stats count an endpoint's activity.
type Stats struct {
	Requests, Resends                     atomic.Int64
	Establishes, EstablishFailures        atomic.Int64
	Renewals, RenewFailures, RenewRefused atomic.Int64
	Cancels, CancelFailures               atomic.Int64
	Invalidations                         atomic.Int64
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
	return &Endpoint{cfg: cfg, url: upstream.Redact(cfg.URL), changed: make(chan struct{}, 1)}, nil
}

// URL returns the endpoint's address, redacted for display.
func (e *Endpoint) URL() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// SignatureMethod is the HMAC algorithm messages are signed with.
func (e *Endpoint) SignatureMethod() string { return e.cfg.SignatureMethod }

// Current returns the context in use (possibly expired), or nil.
func (e *Endpoint) Current() *Context { return e.cur.Load() }

// Changed is signalled (coalescing) whenever the context is replaced or
// dropped, or an exchange fails; the renewal loop reschedules on it.
func (e *Endpoint) Changed() <-chan struct{} { return e.changed }

func (e *Endpoint) signal() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *Endpoint) usable(c *Context) bool { return c != nil && !c.Expired(e.cfg.Now()) }

// HeldError is returned without contacting the STS while an endpoint
// waits to retry after failures: requests fail at once rather than queue.
type HeldError struct {
	Failures int
	RetryAt  time.Time
	Underway bool // an attempt is under way now
	Err      error
}

func (e *HeldError) Error() string {
	next := "the next is at " + e.RetryAt.UTC().Format(time.RFC3339)
	if e.Underway {
		next = "another is under way"
	}
	return fmt.Sprintf("no usable security context; %d attempt(s) failed, %s; last failure: %v", e.Failures, next, e.Err)
}

func (e *HeldError) Unwrap() error { return e.Err }

// Context returns a usable context, establishing one when there is none or
// it has expired. Concurrent callers share one exchange, enveloped as w
// says (the caller that starts it decides). The exchange runs on its own
// deadline, detached from ctx: a caller that gives up stops waiting but the
// others still get the context. After a failure, callers get a *HeldError
// at once until the retry time.
func (e *Endpoint) Context(ctx context.Context, w Wire) (*Context, error) {
	if c := e.cur.Load(); e.usable(c) {
		return c, nil
	}
	return e.replace(ctx, nil, w, false)
}

// Renew replaces old by renewing it (or by a new Issue when the server
// cannot renew, when old has expired, or in Reissue mode), unless old has
// been replaced already, in which case the current context is returned.
// However many callers ask about the same old context, one exchange is
// made. A nil old renews the current context.
func (e *Endpoint) Renew(ctx context.Context, old *Context) (*Context, error) {
	if old == nil {
		old = e.cur.Load()
	}
	return e.replace(ctx, old, Wire{}, true)
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
	if c == nil {
		return false
	}
	for {
		cur := e.cur.Load()
		if cur == nil || cur != c && cur.Identifier() != c.Identifier() {
			return false
		}
		if e.cur.CompareAndSwap(cur, nil) {
			e.stats.Invalidations.Add(1)
			e.signal()
			return true
		}
	}
}

// replace runs or joins the exchange that replaces the context.
func (e *Endpoint) replace(ctx context.Context, old *Context, w Wire, renew bool) (*Context, error) {
	e.mu.Lock()
	cur := e.cur.Load()
	switch {
	case e.closing:
		e.mu.Unlock()
		return nil, e.fail(wssc.Issue, errors.New("the proxy is shutting down"))
	case renew && cur != old && e.usable(cur):
		e.mu.Unlock()
		return cur, nil // someone renewed it meanwhile
	case !renew && e.usable(cur):
		e.mu.Unlock()
		return cur, nil
	}
	cl := e.inflight
	// After failures, the next attempt is the renewal loop's, at its time.
	// Meanwhile a request that needs a renewal, or finds the context
	// expired, fails at once instead of queueing (behind a hung STS, say).
	// Without any context, each request may try (concurrent ones together).
	if f := e.failing; f.err != nil && cur != nil && (cl != nil || e.cfg.Now().Before(f.retryAt)) {
		e.mu.Unlock()
		op := wssc.Issue
		if renew {
			op = wssc.Renew
		}
		return nil, e.fail(op, &HeldError{Failures: f.n, RetryAt: f.retryAt, Err: f.err, Underway: cl != nil})
	}
	if cl == nil {
		if w == (Wire{}) {
			w = e.wire
			if old != nil {
				w = old.Wire
			}
		}
		cl = &call{done: make(chan struct{})}
		e.inflight = cl
		go e.run(context.WithoutCancel(ctx), old, w, renew, cl)
	}
	e.mu.Unlock()
	select {
	case <-cl.done:
		return cl.ctx, cl.err
	case <-ctx.Done():
		return nil, fmt.Errorf("session: waiting for a security context with %s: %w", e.url, ctx.Err())
	}
}

// run makes one exchange and publishes its outcome.
func (e *Endpoint) run(ctx context.Context, old *Context, w Wire, renew bool, cl *call) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := e.cfg.Now()
	var (
		c      *Context
		err    error
		issued bool
	)
	if renew && old != nil && e.cfg.RenewMode == RenewInPlace && !old.Expired(start) {
		c, err = e.renew(ctx, old)
		var f *soap.Fault
		if errors.As(err, &f) {
			// The server cannot renew this context: establish a new one.
			e.stats.RenewRefused.Add(1)
			e.cfg.Logger.Warn("renewal refused; issuing a new security context", "endpoint", e.url, "identifier", old.Identifier(), "fault", f.Error())
			c, err, issued = nil, nil, true
		}
	} else {
		issued = true
	}
	if issued && err == nil {
		c, err = e.issue(ctx, w)
	}
	e.publish(old, c, err, renew, issued, start, cl)
}

func (e *Endpoint) publish(old, c *Context, err error, renew, issued bool, start time.Time, cl *call) {
	now := e.cfg.Now()
	e.mu.Lock()
	switch {
	case err == nil:
		e.cur.Store(c)
		e.wire = c.Wire
		e.failing = failure{}
		if issued {
			e.stats.Establishes.Add(1)
		} else {
			e.stats.Renewals.Add(1)
		}
		if issued && old != nil && e.usable(old) && old.Identifier() != c.Identifier() {
			e.retire(old)
		}
	default:
		if issued {
			e.stats.EstablishFailures.Add(1)
		} else {
			e.stats.RenewFailures.Add(1)
		}
		f := &e.failing
		if f.n == 0 {
			f.first = now
		}
		f.n++
		f.last, f.err = now, err
		f.retryAt = now
		if e.cfg.RetryAt != nil {
			f.retryAt = e.cfg.RetryAt(f.first, f.n)
		}
		// While the context still works, retrying past its end is pointless.
		if cur := e.cur.Load(); e.usable(cur) && !cur.Expires.IsZero() && f.retryAt.After(cur.Expires) {
			f.retryAt = cur.Expires
		}
	}
	e.inflight = nil
	cl.ctx, cl.err = c, err
	e.mu.Unlock()
	// The line is written before the waiters wake, so that a log read
	// in order shows the context before the requests that use it.
	what := map[bool]string{true: "established", false: "renewed"}[issued]
	if err != nil {
		e.cfg.Logger.Warn("security context not "+what, "endpoint", e.url, "error", err)
	} else {
		e.cfg.Logger.Info("security context "+what, "endpoint", e.url, "identifier", c.Token.Identifier,
			"expires", c.Expires, "bootstrap", e.cfg.Bootstrap.Kind(), "took", now.Sub(start))
	}
	close(cl.done)
	e.signal()
}

// retire keeps old for the rollover, then cancels it. Called with e.mu held.
func (e *Endpoint) retire(old *Context) {
	if !e.cfg.CancelReplaced || e.closed {
		return
	}
	r := &retired{ctx: old}
	e.retired = append(e.retired, r)
	delay := max(e.cfg.Rollover, 0)
	r.timer = time.AfterFunc(delay, func() {
		e.mu.Lock()
		if r.done || e.closed {
			e.mu.Unlock()
			return
		}
		r.done = true
		e.dropRetired(r)
		e.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
		defer cancel()
		_ = e.cancel(ctx, old)
	})
}

// dropRetired removes r from the retired list. Called with e.mu held.
func (e *Endpoint) dropRetired(r *retired) {
	for i, x := range e.retired {
		if x == r {
			e.retired = append(e.retired[:i], e.retired[i+1:]...)
			return
		}
	}
}

// Shutdown stops renewals and rollover timers and cancels every context
// still valid, the current one and those replaced but not yet cancelled,
// each under the endpoint's timeout and ctx. With cancel false nothing is
// sent (stateful-cookie servers need no cancel). It returns the first
// failure; a failed cancel is logged and does not stop the others.
func (e *Endpoint) Shutdown(ctx context.Context, cancel bool) error {
	e.mu.Lock()
	e.closing = true
	cl := e.inflight
	e.mu.Unlock()
	if cl != nil {
		// An exchange under way may yet replace the context: let it finish,
		// so that what it makes is cancelled too.
		select {
		case <-cl.done:
		case <-ctx.Done():
		}
	}
	e.mu.Lock()
	e.closed = true
	var live []*Context
	for _, r := range e.retired {
		if !r.done {
			r.done = true
			r.timer.Stop()
			if e.usable(r.ctx) {
				live = append(live, r.ctx)
			}
		}
	}
	e.retired = nil
	if c := e.cur.Load(); e.usable(c) {
		live = append(live, c)
	}
	e.mu.Unlock()
	if !cancel {
		return nil
	}
	var first error
	for _, c := range live {
		cctx, stop := context.WithTimeout(ctx, e.cfg.Timeout)
		err := e.cancel(cctx, c)
		stop()
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// cancel sends WS-Trust Cancel for c and records the outcome.
func (e *Endpoint) cancel(ctx context.Context, c *Context) error {
	err := e.cancelExchange(ctx, c)
	if err != nil {
		e.stats.CancelFailures.Add(1)
		e.cfg.Logger.Warn("security context not cancelled", "endpoint", e.url, "identifier", c.Identifier(), "error", err)
		return err
	}
	e.stats.Cancels.Add(1)
	e.cur.CompareAndSwap(c, nil)
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
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	st := Status{
		Endpoint: e.url, Bootstrap: e.cfg.Bootstrap.Kind(), SCVersion: e.cfg.Version.String(), RenewMode: e.cfg.RenewMode.String(),
		Requests: e.stats.Requests.Load(), Establishes: e.stats.Establishes.Load(), Renewals: e.stats.Renewals.Load(),
		Resends: e.stats.Resends.Load(), Cancels: e.stats.Cancels.Load(),
		Failures: e.stats.EstablishFailures.Load() + e.stats.RenewFailures.Load() + e.stats.CancelFailures.Load(),
	}
	c := e.cur.Load()
	if c != nil {
		st.Identifier, st.Established, st.Expires = c.Identifier(), c.Established, c.Expires
	}
	if n := e.next.Load(); n != 0 {
		st.NextRenewal = time.Unix(0, n).UTC()
	}
	if e.failing.err != nil {
		st.LastError, st.LastErrorAt, st.RetryAt = e.failing.err.Error(), e.failing.last, e.failing.retryAt
	}
	switch {
	case e.closing:
		st.State = StateClosed
	case e.inflight != nil:
		st.State = StateRenewing
	case e.failing.err != nil:
		st.State = StateFailing
	case c == nil:
		st.State = StateIdle
	case c.Expired(now):
		st.State = StateExpired
	default:
		st.State = StateActive
	}
	return st
}

// Schedule reports what the renewal loop needs: the current context's
// lifetime and, after failures, when to try again (zero otherwise). ok is
// false when there is no context to keep alive.
func (e *Endpoint) Schedule() (established, expires, retryAt time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cur.Load()
	if c == nil || e.closing {
		return time.Time{}, time.Time{}, time.Time{}, false
	}
	if e.failing.err != nil {
		retryAt = e.failing.retryAt
	}
	return c.Established, c.Expires, retryAt, true
}

// Scheduled records the next renewal the loop has planned, for Status.
func (e *Endpoint) Scheduled(at time.Time) {
	if at.IsZero() {
		e.next.Store(0)
		return
	}
	e.next.Store(at.UnixNano())
}

// RenewCurrent renews the current context, for the renewal loop.
func (e *Endpoint) RenewCurrent(ctx context.Context) error {
	_, err := e.Renew(ctx, nil)
	return err
}
