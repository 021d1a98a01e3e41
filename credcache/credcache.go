package credcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the settings a zero Config leaves open.
const (
	// DefaultMargin is the mandatory margin before expiry: the clock skew
	// WCF services allow by default.
	DefaultMargin = 5 * time.Minute
	// MaxMarginFraction bounds the margin to this fraction (1/4) of a
	// value's lifetime, so that a short-lived value is still usable for
	// three quarters of its life.
	MaxMarginFraction = 4
	// DefaultTimeout bounds one fetch.
	DefaultTimeout = 30 * time.Second
)

// ErrClosed is returned by calls that would fetch after Close.
var ErrClosed = errors.New("credcache: closed")

// Config configures a Cache. Lifetime is required.
type Config[T comparable] struct {
	// Lifetime returns when v was obtained and when it expires (zero: it
	// never does).
	Lifetime func(v T) (from, until time.Time)
	// Margin is the mandatory margin before expiry (clamped, see
	// Clamp); zero means DefaultMargin, negative none.
	Margin time.Duration
	// RefreshAt, when set, returns the advisory refresh time of v (zero:
	// none): from then on the first caller starts a fetch in the
	// background and is handed v.
	RefreshAt func(v T) time.Time
	// Backoff returns when to fetch again after the n-th consecutive
	// failure, err, the first of which happened at first. Until then, and
	// while the next attempt is under way, callers without a usable value
	// get a *HeldError at once, whether a stale value is held or none
	// ever was: a failure to fetch the first value (a wrong password)
	// must not be repeated by every caller. Nil: failures are not
	// remembered and every call may fetch.
	Backoff func(first time.Time, n int, err error) time.Time
	// Same reports whether a is b for Invalidate; nil compares with ==.
	Same func(a, b T) bool
	// Timeout bounds one fetch; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Name says what the value is, for messages ("security context");
	// empty means "credential".
	Name string
	// Changed, when set, is called after every fetch's outcome is
	// published and every invalidation, outside the cache's lock: a
	// scheduler watching the value reschedules on it.
	Changed func()
}

// Fetch obtains a new value under ctx.
type Fetch[T any] func(ctx context.Context) (T, error)

// Cache holds one expiring value. Its methods are safe for concurrent
// use.
type Cache[T comparable] struct {
	cfg    Config[T]
	margin time.Duration
	snap   atomic.Pointer[snapshot[T]]

	mu     sync.Mutex // guards flight and closed; publishing holds it
	flight *call[T]
	closed bool
}

// snapshot is the cache's state at one instant. It is never modified
// once published.
type snapshot[T comparable] struct {
	val         T
	held        bool
	usableUntil time.Time // zero: for ever
	refreshAt   time.Time // zero: no advisory refresh
	// The run of consecutive failed fetches.
	fails              int
	first, last, retry time.Time
	err                error
}

func (s *snapshot[T]) usable(now time.Time) bool {
	return s.held && (s.usableUntil.IsZero() || now.Before(s.usableUntil))
}

// call is one fetch that callers wait for.
type call[T any] struct {
	done   chan struct{}
	cancel context.CancelFunc // stops the fetch (Close, past its deadline)
	val    T
	err    error
}

// New returns an empty Cache.
func New[T comparable](cfg Config[T]) *Cache[T] {
	if cfg.Lifetime == nil {
		panic("credcache: no Lifetime")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Name == "" {
		cfg.Name = "credential"
	}
	if cfg.Same == nil {
		cfg.Same = func(a, b T) bool { return a == b }
	}
	c := &Cache[T]{cfg: cfg, margin: cfg.Margin}
	if c.margin == 0 {
		c.margin = DefaultMargin
	}
	c.snap.Store(&snapshot[T]{})
	return c
}

// Clamp returns the margin kept before until for a value obtained at
// from: margin, at most a MaxMarginFraction of the lifetime; zero when
// the value never expires or margin is not positive.
func Clamp(margin time.Duration, from, until time.Time) time.Duration {
	if until.IsZero() || margin <= 0 {
		return 0
	}
	return max(min(margin, until.Sub(from)/MaxMarginFraction), 0)
}

// usableUntil returns when a value obtained at from and expiring at until
// stops being handed out (zero: never) under margin.
func usableUntil(margin time.Duration, from, until time.Time) time.Time {
	if until.IsZero() {
		return time.Time{}
	}
	return until.Add(-Clamp(margin, from, until))
}

// Usable returns the value if it may be handed out now, without fetching
// or refreshing, and without taking a lock.
func (c *Cache[T]) Usable() (T, bool) {
	if s := c.snap.Load(); s.usable(c.cfg.Now()) {
		return s.val, true
	}
	var zero T
	return zero, false
}

// Get returns a usable value, fetching one when there is none: concurrent
// callers share one fetch, which fetch makes (the caller that starts it
// decides). A value past its advisory refresh time is returned at once
// while a fetch replaces it in the background.
func (c *Cache[T]) Get(ctx context.Context, fetch Fetch[T]) (T, error) {
	now := c.cfg.Now()
	if s := c.snap.Load(); s.usable(now) {
		if !s.refreshAt.IsZero() && !now.Before(s.refreshAt) {
			c.refreshEarly(ctx, fetch, now)
		}
		return s.val, nil
	}
	return c.await(ctx, fetch, now, false, *new(T))
}

// Refresh replaces old, unless it has been replaced already by a value
// still usable, which is returned. However many callers ask about the
// same old value, one fetch is made.
func (c *Cache[T]) Refresh(ctx context.Context, old T, fetch Fetch[T]) (T, error) {
	return c.await(ctx, fetch, c.cfg.Now(), true, old)
}

// await runs or joins the fetch that replaces the value. A caller whose
// ctx ends first gets ctx.Err() itself; the fetch goes on.
func (c *Cache[T]) await(ctx context.Context, fetch Fetch[T], now time.Time, replace bool, old T) (T, error) {
	var zero T
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return zero, ErrClosed
	}
	s := c.snap.Load()
	if s.usable(now) && (!replace || s.val != old) {
		c.mu.Unlock()
		return s.val, nil
	}
	cl := c.flight
	if c.held(s, now) {
		c.mu.Unlock()
		return zero, &HeldError{What: c.cfg.Name, Failures: s.fails, RetryAt: s.retry, Underway: cl != nil, Err: s.err}
	}
	if cl == nil {
		cl = c.start(ctx, fetch)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// held reports whether callers fail at once: after failures, until the
// retry time or while the retry is under way, with or without a stale
// value. Before any failure concurrent callers share the fetch. Called
// with c.mu held.
func (c *Cache[T]) held(s *snapshot[T], now time.Time) bool {
	return c.cfg.Backoff != nil && s.err != nil && (c.flight != nil || now.Before(s.retry))
}

// refreshEarly starts a background fetch of a value past its advisory
// refresh time, unless one is under way or the backoff says wait.
func (c *Cache[T]) refreshEarly(ctx context.Context, fetch Fetch[T], now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	if c.closed || c.flight != nil || !s.usable(now) || s.refreshAt.IsZero() || now.Before(s.refreshAt) ||
		s.err != nil && now.Before(s.retry) {
		return
	}
	c.start(ctx, fetch)
}

// start runs fetch on its own goroutine. Called with c.mu held.
func (c *Cache[T]) start(ctx context.Context, fetch Fetch[T]) *call[T] {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	cl := &call[T]{done: make(chan struct{}), cancel: cancel}
	c.flight = cl
	go func() {
		defer cancel()
		cl.val, cl.err = fetch(fctx)
		c.publish(cl)
		close(cl.done)
		c.changed()
	}()
	return cl
}

// publish records a fetch's outcome.
func (c *Cache[T]) publish(cl *call[T]) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flight = nil
	for {
		old := c.snap.Load()
		var s snapshot[T]
		if cl.err == nil {
			s = c.fresh(cl.val)
		} else {
			s = *old
			if s.fails == 0 {
				s.first = now
			}
			s.fails++
			s.last, s.err, s.retry = now, cl.err, now
			if c.cfg.Backoff != nil {
				s.retry = c.cfg.Backoff(s.first, s.fails, cl.err)
			}
			// While the value still works, retrying past its end is pointless.
			if s.usable(now) && !s.usableUntil.IsZero() && s.retry.After(s.usableUntil) {
				s.retry = s.usableUntil
			}
		}
		if c.snap.CompareAndSwap(old, &s) {
			return
		}
	}
}

// fresh is the snapshot holding a newly fetched v.
func (c *Cache[T]) fresh(v T) snapshot[T] {
	from, until := c.cfg.Lifetime(v)
	s := snapshot[T]{val: v, held: true, usableUntil: usableUntil(c.margin, from, until)}
	if c.cfg.RefreshAt != nil {
		s.refreshAt = c.cfg.RefreshAt(v)
	}
	return s
}

// Invalidate drops rejected if it is still the value held, so that the
// next call fetches; a value already replaced is left alone, so that many
// callers failing with the same value cause one fetch. It reports whether
// rejected was dropped.
func (c *Cache[T]) Invalidate(rejected T) bool {
	for {
		s := c.snap.Load()
		if !s.held || !c.cfg.Same(s.val, rejected) {
			return false
		}
		n := *s
		var zero T
		n.val, n.held, n.usableUntil, n.refreshAt = zero, false, time.Time{}, time.Time{}
		if c.snap.CompareAndSwap(s, &n) {
			c.changed()
			return true
		}
	}
}

func (c *Cache[T]) changed() {
	if c.cfg.Changed != nil {
		c.cfg.Changed()
	}
}

// Peek returns the value held, usable or not, and whether there is one.
func (c *Cache[T]) Peek() (T, bool) {
	s := c.snap.Load()
	return s.val, s.held
}

// State is a cache's state, for status displays and schedulers.
type State[T any] struct {
	// Value is the value held when Held.
	Value T
	Held  bool
	// UsableUntil is when Value stops being handed out (zero: never).
	UsableUntil time.Time
	// Fetching: a fetch is under way.
	Fetching bool
	// Failures counts the consecutive failed fetches; Err and LastFailure
	// are the latest one's, RetryAt when the backoff allows the next.
	Failures    int
	Err         error
	LastFailure time.Time
	RetryAt     time.Time
}

// State returns the cache's state.
func (c *Cache[T]) State() State[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	return State[T]{Value: s.val, Held: s.held, UsableUntil: s.usableUntil, Fetching: c.flight != nil,
		Failures: s.fails, Err: s.err, LastFailure: s.last, RetryAt: s.retry}
}

// Close makes every later call that would fetch fail with ErrClosed,
// then waits for a fetch under way, so that the value it makes is seen
// by whoever cleans up, until ctx ends: then the fetch is cancelled, so
// that it cannot finish after its owner has gone, and Close returns
// ctx's error. A usable value is still handed out.
func (c *Cache[T]) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	cl := c.flight
	c.mu.Unlock()
	if cl == nil {
		return nil
	}
	select {
	case <-cl.done:
		return nil
	case <-ctx.Done():
		cl.cancel()
		return ctx.Err()
	}
}

// HeldError is returned without fetching while a cache waits to retry
// after failures: callers fail at once rather than queue.
type HeldError struct {
	What     string // the cache's Config.Name
	Failures int
	RetryAt  time.Time
	Underway bool // a fetch is under way now
	Err      error
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("no usable %s; %d attempt(s) failed, %s; last failure: %v", e.What, e.Failures, e.Next(), e.Err)
}

// Next says when the next attempt is: "the next is at" the retry time,
// or "another is under way".
func (e *HeldError) Next() string {
	if e.Underway {
		return "another is under way"
	}
	return "the next is at " + e.RetryAt.UTC().Format(time.RFC3339)
}

// Unwrap returns the last failure.
func (e *HeldError) Unwrap() error { return e.Err }
