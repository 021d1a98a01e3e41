package renewal

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
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
		{"15h WCF lifetime: 60% wins", 15 * time.Hour, Policy{}, 9*time.Hour - 45*time.Minute, 9 * time.Hour},
		{"24h: the 10h interval wins", 24 * time.Hour, Policy{}, 10*time.Hour - 72*time.Minute, 10 * time.Hour},
		{"renew interval flag", 15 * time.Hour, Policy{Interval: time.Hour}, time.Hour - 45*time.Minute, time.Hour},
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

// fakeTarget is an endpoint whose STS can be taken down; every attempt is
// recorded with the (bubble) time it happened.
type fakeTarget struct {
	mu        sync.Mutex
	life      time.Duration
	down      bool
	est, exp  time.Time
	fails     int
	first     time.Time
	retryAt   time.Time
	attempts  []time.Time
	renewed   []time.Time
	scheduled time.Time
	changed   chan struct{}
	policy    Policy
	rnd       *rand.Rand
}

func newFake(life time.Duration) *fakeTarget {
	now := time.Now()
	return &fakeTarget{life: life, est: now, exp: now.Add(life), changed: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(9, 9))}
}

func (f *fakeTarget) Schedule() (time.Time, time.Time, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.est, f.exp, f.retryAt, true
}

func (f *fakeTarget) RenewCurrent(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.attempts = append(f.attempts, now)
	if f.down {
		if f.fails == 0 {
			f.first = now
		}
		f.fails++
		f.retryAt = f.policy.RetryAt(f.first, f.fails, f.rnd.Float64)
		if now.Before(f.exp) && f.retryAt.After(f.exp) {
			f.retryAt = f.exp
		}
		return errors.New("sts down")
	}
	f.fails, f.retryAt = 0, time.Time{}
	f.est, f.exp = now, now.Add(f.life)
	f.renewed = append(f.renewed, now)
	return nil
}

func (f *fakeTarget) Changed() <-chan struct{} { return f.changed }
func (f *fakeTarget) Scheduled(at time.Time) {
	f.mu.Lock()
	f.scheduled = at
	f.mu.Unlock()
}

func (f *fakeTarget) snapshot() (attempts, renewed []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.attempts...), append([]time.Time(nil), f.renewed...)
}

func run(ctx context.Context, f *fakeTarget) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	rng := rand.New(rand.NewPCG(5, 6))
	go func() { Run(ctx, f, f.policy, rng.Float64); close(done) }()
	return func() { cancel(); <-done }
}

func TestRenewsInsideTheWindowRepeatedly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(15 * time.Hour)
		start := f.est
		stop := run(t.Context(), f)
		time.Sleep(100 * time.Hour)
		stop()
		_, renewed := f.snapshot()
		if len(renewed) < 10 || len(renewed) > 13 {
			t.Fatalf("%d renewals in 100h of 15h contexts, want 10 to 13", len(renewed))
		}
		prev := start
		for i, at := range renewed {
			gap := at.Sub(prev)
			if gap < 8*time.Hour+15*time.Minute || gap > 9*time.Hour {
				t.Fatalf("renewal %d after %v, want within [8h15m, 9h]", i, gap)
			}
			prev = at
		}
	})
}

// With the STS down for 30 minutes, at most 12 attempts are made, none
// after the context's expiry is passed by more than the backoff, and
// service resumes at the first attempt after the STS is back.
func TestSTSDownThirtyMinutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(2 * time.Hour)
		f.down = true
		stop := run(t.Context(), f)
		due := f.est.Add(72 * time.Minute) // first attempt is at most 60% of 2h
		time.Sleep(72*time.Minute + 30*time.Minute)
		attempts, _ := f.snapshot()
		inOutage := 0
		for _, a := range attempts {
			if !a.After(due.Add(30 * time.Minute)) {
				inOutage++
			}
		}
		t.Logf("%d attempts during the 30-minute outage", inOutage)
		if inOutage > 12 || inOutage < 5 {
			t.Fatalf("%d attempts in the first 30 minutes of failures, want 5 to 12", inOutage)
		}
		f.mu.Lock()
		f.down = false
		f.mu.Unlock()
		time.Sleep(6 * time.Minute) // one capped window
		_, renewed := f.snapshot()
		stop()
		if len(renewed) != 1 {
			t.Fatalf("%d renewals after the STS came back, want 1", len(renewed))
		}
	})
}

// A context renewed by someone else (a forced renewal after a server
// fault) moves the plan: the loop does not renew again at the old time.
func TestChangeReschedules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(10 * time.Hour)
		stop := run(t.Context(), f)
		time.Sleep(time.Hour)
		synctest.Wait()
		f.mu.Lock()
		old := f.scheduled
		f.est, f.exp = time.Now(), time.Now().Add(10*time.Hour)
		f.mu.Unlock()
		f.changed <- struct{}{}
		synctest.Wait()
		f.mu.Lock()
		moved := f.scheduled
		f.mu.Unlock()
		if !moved.After(old) {
			t.Fatalf("plan %v not moved after %v", moved, old)
		}
		time.Sleep(old.Sub(time.Now()) + time.Minute)
		attempts, _ := f.snapshot()
		stop()
		if len(attempts) != 0 {
			t.Fatalf("renewed at the stale time: %v", attempts)
		}
	})
}

// A target that keeps asking for a retry in the past cannot make the loop
// spin.
func TestNoSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(time.Hour)
		f.retryAt = time.Now().Add(-time.Hour)
		f.down = true
		f.policy = Policy{Base: time.Second}
		// RetryAt of this target always answers "now".
		g := &pastTarget{fakeTarget: f}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { Run(ctx, g, f.policy, func() float64 { return 0.5 }); close(done) }()
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		attempts, _ := f.snapshot()
		if len(attempts) > 11 {
			t.Fatalf("%d attempts in 10s", len(attempts))
		}
	})
}

type pastTarget struct{ *fakeTarget }

func (p *pastTarget) Schedule() (time.Time, time.Time, time.Time, bool) {
	est, exp, _, ok := p.fakeTarget.Schedule()
	return est, exp, time.Now().Add(-time.Second), ok
}
