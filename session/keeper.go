package session

import (
	"context"
	"time"

	"github.com/scproxy/scproxy/renewal"
)

// target is what a keeper keeps alive: an Endpoint (tests use fakes).
type target interface {
	// schedule reports the current context's lifetime and, after failed
	// attempts, when to try again (zero otherwise); ok is false when there
	// is no context to keep alive.
	schedule() (established, expires, retryAt time.Time, ok bool)
	// renewCurrent renews the current context, or issues a new one when it
	// has expired or cannot be renewed. Failures are recorded by the
	// target and reflected by the next schedule.
	renewCurrent(ctx context.Context) error
	// woken is signalled (coalescing) when the context is replaced or
	// dropped, an attempt fails, or a context is retired.
	woken() <-chan struct{}
	// scheduled is told the next planned renewal (zero: none), for status.
	scheduled(at time.Time)
	// nextCancel returns when the earliest retired context is due to be
	// cancelled (zero: none); cancelDue cancels those due at now.
	nextCancel() time.Time
	cancelDue(ctx context.Context, now time.Time)
}

// keep is an endpoint's keeper: the one goroutine that renews its context
// proactively as the renewal policy says, retries after failures at the
// times the backoff gives, and cancels replaced contexts once their
// rollover has passed. It sleeps until the earliest of these and wakes
// early on the target's signal (a renewal forced by a server fault, a
// dropped context, a retired one) to reschedule; it returns when ctx
// ends. Time comes from the time package, so tests run it in a synctest
// bubble; rnd returns numbers in [0, 1) and is called from this goroutine
// only.
func keep(ctx context.Context, t target, p renewal.Policy, rnd func() float64) {
	plan := renewal.NewPlanner(p, rnd)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	defer t.scheduled(time.Time{})
	for {
		var renewAt time.Time
		if established, expires, retryAt, ok := t.schedule(); ok {
			renewAt = plan.Next(established, expires, retryAt)
		}
		t.scheduled(renewAt)
		cancelAt := t.nextCancel()
		var fire <-chan time.Time
		if at := earliest(renewAt, cancelAt); !at.IsZero() {
			timer.Reset(time.Until(at))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-t.woken():
			timer.Stop()
		case <-fire:
			now := time.Now()
			if !cancelAt.IsZero() && !now.Before(cancelAt) {
				t.cancelDue(ctx, now)
			}
			if !renewAt.IsZero() && !now.Before(renewAt) {
				plan.Tried(now)
				_ = t.renewCurrent(ctx)
			}
		}
	}
}

// earliest returns the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func (e *Endpoint) schedule() (established, expires, retryAt time.Time, ok bool) {
	e.mu.Lock()
	closing := e.closing
	e.mu.Unlock()
	cs := e.cache.State()
	if !cs.Held || closing {
		return time.Time{}, time.Time{}, time.Time{}, false
	}
	if cs.Err != nil {
		retryAt = cs.RetryAt
	}
	return cs.Value.Established, cs.Value.Expires, retryAt, true
}

func (e *Endpoint) renewCurrent(ctx context.Context) error {
	_, err := e.Renew(ctx, nil)
	return err
}

func (e *Endpoint) woken() <-chan struct{} { return e.wake }

func (e *Endpoint) scheduled(at time.Time) {
	if at.IsZero() {
		e.next.Store(0)
		return
	}
	e.next.Store(at.UnixNano())
}

func (e *Endpoint) nextCancel() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var at time.Time
	for _, r := range e.retired {
		at = earliest(at, r.at)
	}
	return at
}

// cancelDue cancels the retired contexts whose rollover has passed, each
// under the endpoint's timeout: the keeper's context ending does not cut
// a cancel short.
func (e *Endpoint) cancelDue(ctx context.Context, now time.Time) {
	e.mu.Lock()
	var due []*Context
	keep := e.retired[:0]
	for _, r := range e.retired {
		if now.Before(r.at) {
			keep = append(keep, r)
		} else {
			due = append(due, r.ctx)
		}
	}
	e.retired = keep
	e.mu.Unlock()
	for _, c := range due {
		_ = e.cancel(context.WithoutCancel(ctx), c)
	}
}
