package renewal

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestDueInsideTheJitterWindow(t *testing.T) {
	est := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		life     time.Duration
		p        Policy
		earliest time.Duration
		latest   time.Duration
	}{
		{"15h WCF lifetime: 60% wins", 15 * time.Hour, Policy{}, 9*time.Hour - 27*time.Minute, 9 * time.Hour},
		{"24h: the 10h interval wins", 24 * time.Hour, Policy{}, 10*time.Hour - 30*time.Minute, 10 * time.Hour},
		{"renew interval flag", 15 * time.Hour, Policy{Interval: time.Hour}, time.Hour - 3*time.Minute, time.Hour},
		{"short lifetime hits the floor", 4 * time.Second, Policy{}, DefaultFloor, DefaultFloor},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for _, r := range append([]float64{0, 0.999999}, func() []float64 {
				var v []float64
				for range 1000 {
					v = append(v, rng.Float64())
				}
				return v
			}()...) {
				d := c.p.Due(est, est.Add(c.life), func() float64 { return r }).Sub(est)
				if d < c.earliest || d > c.latest {
					t.Fatalf("rnd %v: renewal after %v, want within [%v, %v]", r, d, c.earliest, c.latest)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			if c.earliest != c.latest && hi-lo < (c.latest-c.earliest)*9/10 {
				t.Fatalf("jitter spans only [%v, %v]", lo, hi)
			}
		})
	}
	if d := (Policy{}).Due(est, time.Time{}, func() float64 { return 0.5 }).Sub(est); d != DefaultInterval {
		t.Fatalf("no expiry: %v, want the interval", d)
	}
}

func TestRetryWindowsHoldOneAttemptEach(t *testing.T) {
	p := Policy{}
	first := time.Unix(0, 0)
	prevEnd := time.Duration(0)
	for n := 1; n <= 20; n++ {
		lo := p.RetryAt(first, n, func() float64 { return 0 }).Sub(first)
		hi := p.RetryAt(first, n, func() float64 { return 0.9999999 }).Sub(first)
		if lo < prevEnd {
			t.Fatalf("window %d starts at %v, before the previous ended (%v)", n, lo, prevEnd)
		}
		if hi-lo > DefaultCap {
			t.Fatalf("window %d is %v long, over the cap", n, hi-lo)
		}
		prevEnd = hi
	}
	if w1 := p.RetryAt(first, 1, func() float64 { return 0 }).Sub(first); w1 != DefaultBase {
		t.Fatalf("first retry window starts at %v, want the base", w1)
	}
}

// The planner draws a context's renewal time once, moves it when the
// context changes, and never plans two attempts closer than Base.
func TestPlanner(t *testing.T) {
	est := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	draws := 0
	pl := NewPlanner(Policy{}, func() float64 { draws++; return 0.5 })
	first := pl.Next(est, est.Add(10*time.Hour), time.Time{})
	if again := pl.Next(est, est.Add(10*time.Hour), time.Time{}); again != first || draws != 1 {
		t.Fatalf("plan moved to %v from %v (%d draws)", again, first, draws)
	}
	later := est.Add(time.Hour)
	if moved := pl.Next(later, later.Add(10*time.Hour), time.Time{}); !moved.Equal(first.Add(time.Hour)) {
		t.Fatalf("plan for a new context %v, want %v", moved, first.Add(time.Hour))
	}
	pl.Tried(later)
	if at := pl.Next(later, later.Add(10*time.Hour), later.Add(-time.Minute)); !at.Equal(later.Add(DefaultBase)) {
		t.Fatalf("retry in the past planned at %v, want Base after the last try", at)
	}
}

// TestDueJitterIsAPartOfTheDelay: the jitter brings the renewal forward by
// a part of the delay chosen (the earlier of the lifetime's fraction and
// the interval), never of the lifetime, so that a long lifetime cannot
// push the renewal down to the floor: for lifetimes of an hour, 30 days
// and a year every renewal falls within [(1-jitter)·delay, delay].
func TestDueJitterIsAPartOfTheDelay(t *testing.T) {
	est := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name  string
		life  time.Duration
		delay time.Duration
	}{
		{"1h", time.Hour, 36 * time.Minute},
		{"30 days", 30 * day, DefaultInterval},
		{"1 year", 365 * day, DefaultInterval},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			earliest := c.delay - time.Duration(DefaultJitter*float64(c.delay))
			rng := rand.New(rand.NewPCG(5, 6))
			floored := 0
			for i := range 1002 {
				r := rng.Float64()
				switch i {
				case 0:
					r = 0
				case 1:
					r = 0.999999
				}
				d := (Policy{}).Due(est, est.Add(c.life), func() float64 { return r }).Sub(est)
				if d == DefaultFloor {
					floored++
				}
				if d < earliest || d > c.delay {
					t.Errorf("rnd %v: renewal after %v, want within [%v, %v]", r, d, earliest, c.delay)
				}
			}
			if floored > 0 {
				t.Errorf("%d of 1002 renewals clamped to the %v floor", floored, DefaultFloor)
			}
		})
	}
}
