// Package renewal decides when a security context is renewed and runs the
// loop that does it: proactively, at the earlier of 60% of the context's
// lifetime and a fixed interval (10 hours, as WCF and WWSAPI clients),
// brought forward by a random part of the lifetime so that a fleet started
// together does not renew together; after a failure, at a random instant
// of a growing backoff window, never past the context's expiry.
//
// One goroutine per endpoint owns the timer. It sleeps until the next
// renewal, and wakes early on the endpoint's coalescing change signal
// (a renewal forced by a server fault, a dropped context) to reschedule.
// Time comes from the time package, so tests run it in a synctest bubble;
// randomness is injected.
package renewal

import (
	"context"
	"time"
)

// Defaults of a zero Policy.
const (
	DefaultInterval = 10 * time.Hour
	DefaultFraction = 0.6
	DefaultJitter   = 0.05
	DefaultFloor    = 5 * time.Second
	DefaultBase     = time.Second
	DefaultCap      = 5 * time.Minute
	DefaultFactor   = 4
)

// Policy says when to renew.
type Policy struct {
	// Interval caps the time between establishment and renewal.
	Interval time.Duration
	// Fraction of the lifetime after which to renew.
	Fraction float64
	// Jitter is the largest part of the lifetime the renewal is brought
	// forward by, at random.
	Jitter float64
	// Floor is the least time between establishment and renewal, so that
	// a very short lifetime cannot make the loop spin.
	Floor time.Duration
	// Base, Factor and Cap shape the backoff windows after failures: the
	// n-th window is min(Cap, Base·Factor^n) long and follows the previous
	// one; each retry falls at a random instant of its window ("full
	// jitter"), so that at most one attempt falls in each window.
	Base   time.Duration
	Factor int
	Cap    time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	if p.Fraction <= 0 || p.Fraction >= 1 {
		p.Fraction = DefaultFraction
	}
	if p.Jitter <= 0 || p.Jitter >= p.Fraction {
		p.Jitter = DefaultJitter
	}
	if p.Floor <= 0 {
		p.Floor = DefaultFloor
	}
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Factor < 2 {
		p.Factor = DefaultFactor
	}
	if p.Cap <= 0 {
		p.Cap = DefaultCap
	}
	return p
}

// Due returns when to renew a context established at established and
// expiring at expires (zero: no stated expiry). rnd returns a number in
// [0, 1).
func (p Policy) Due(established, expires time.Time, rnd func() float64) time.Time {
	p = p.withDefaults()
	if expires.IsZero() {
		return established.Add(p.Interval)
	}
	life := expires.Sub(established)
	after := min(time.Duration(float64(life)*p.Fraction), p.Interval)
	after -= time.Duration(rnd() * p.Jitter * float64(life))
	after = max(after, p.Floor)
	return established.Add(after)
}

// window returns the start (after the first failure) and length of the
// n-th backoff window, n ≥ 1.
func (p Policy) window(n int) (start, length time.Duration) {
	w := p.Base
	for i := 1; i < n; i++ {
		start += w
		if w < p.Cap {
			w = min(w*time.Duration(p.Factor), p.Cap)
		}
	}
	return start + w, min(w*time.Duration(p.Factor), p.Cap)
}

// RetryAt returns when to try again after the n-th consecutive failure
// (n ≥ 1), the first of which happened at first: a random instant of the
// n-th backoff window.
func (p Policy) RetryAt(first time.Time, n int, rnd func() float64) time.Time {
	p = p.withDefaults()
	start, length := p.window(max(n, 1))
	return first.Add(start + time.Duration(rnd()*float64(length)))
}

// Target is the endpoint a loop keeps alive.
type Target interface {
	// Schedule reports the current context's lifetime and, after failed
	// attempts, when to try again (zero otherwise); ok is false when there
	// is no context to keep alive.
	Schedule() (established, expires, retryAt time.Time, ok bool)
	// RenewCurrent renews the current context, or issues a new one when
	// it has expired or cannot be renewed. Failures are recorded by the
	// target and reflected by the next Schedule.
	RenewCurrent(ctx context.Context) error
	// Changed is signalled when the context is replaced or dropped or an
	// attempt fails.
	Changed() <-chan struct{}
	// Scheduled is told the next planned renewal (zero: none), for status.
	Scheduled(at time.Time)
}

// Run keeps t's context alive until ctx ends. rnd returns numbers in
// [0, 1); it is called from this goroutine only.
func Run(ctx context.Context, t Target, p Policy, rnd func() float64) {
	p = p.withDefaults()
	var (
		planned     time.Time // renewal time of the context last seen
		plannedFrom time.Time // its establishment time
		lastTry     time.Time // the loop's latest attempt
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	defer t.Scheduled(time.Time{})
	for {
		established, expires, retryAt, ok := t.Schedule()
		var at time.Time
		switch {
		case !ok:
			t.Scheduled(time.Time{})
			select {
			case <-ctx.Done():
				return
			case <-t.Changed():
				continue
			}
		case !retryAt.IsZero():
			at = retryAt
		default:
			if !established.Equal(plannedFrom) || planned.IsZero() {
				planned, plannedFrom = p.Due(established, expires, rnd), established
			}
			at = planned
		}
		if !lastTry.IsZero() && at.Before(lastTry.Add(p.Base)) {
			at = lastTry.Add(p.Base) // whatever the target says, never spin
		}
		t.Scheduled(at)
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return
		case <-t.Changed():
			timer.Stop()
		case <-timer.C:
			lastTry = time.Now()
			_ = t.RenewCurrent(ctx)
		}
	}
}
