package renewal

import "time"

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

// AuthFailureWindows is how many backoff windows a refused credential
// skips: the STS said the credential is wrong, the same credential sent
// again soon is refused again, and every refusal counts against the
// account's lockout threshold. With the default policy the first retry
// after a refused login falls 21 s to 85 s after it (not 1 s to 5 s), the
// next 85 s to 341 s after, then one in every 5 minutes.
const AuthFailureWindows = 2

// Policy says when to renew.
type Policy struct {
	// Interval caps the time between establishment and renewal.
	Interval time.Duration
	// Fraction of the lifetime after which to renew.
	Fraction float64
	// Jitter is the largest part of the delay chosen (the earlier of the
	// lifetime's Fraction and Interval) the renewal is brought forward by,
	// at random: a part of the delay, not of the lifetime, so that however
	// long the lifetime the renewal stays within [(1-Jitter)·delay, delay].
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
	if p.Jitter <= 0 || p.Jitter >= 1 {
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
	after -= time.Duration(rnd() * p.Jitter * float64(after))
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

// Planner remembers what a renewal loop planned, so that the random
// part of a context's renewal time is drawn once per context, and that
// attempts are never closer together than the policy's Base whatever the
// target says. It holds no clock and starts no goroutine: the loop that
// owns it tells it the time. A Planner is used by one goroutine.
type Planner struct {
	p           Policy
	rnd         func() float64
	planned     time.Time // renewal time of the context last seen
	plannedFrom time.Time // its establishment time
	lastTry     time.Time // the latest attempt
}

// NewPlanner returns a Planner for p; rnd returns numbers in [0, 1).
func NewPlanner(p Policy, rnd func() float64) *Planner {
	return &Planner{p: p.withDefaults(), rnd: rnd}
}

// Next returns when to renew a context established at established and
// expiring at expires (zero: no stated expiry), or, after failed
// attempts, retryAt (zero when none failed).
func (pl *Planner) Next(established, expires, retryAt time.Time) time.Time {
	at := retryAt
	if at.IsZero() {
		if !established.Equal(pl.plannedFrom) || pl.planned.IsZero() {
			pl.planned, pl.plannedFrom = pl.p.Due(established, expires, pl.rnd), established
		}
		at = pl.planned
	}
	if !pl.lastTry.IsZero() && at.Before(pl.lastTry.Add(pl.p.Base)) {
		at = pl.lastTry.Add(pl.p.Base) // whatever the target says, never spin
	}
	return at
}

// Tried records an attempt made at now.
func (pl *Planner) Tried(now time.Time) { pl.lastTry = now }
