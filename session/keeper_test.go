package session

// The keeper's renewal loop against a fake endpoint (moved here from
// package renewal with the loop itself; the assertions are unchanged).

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/renewal"
)

// fakeTarget is an endpoint whose STS can be taken down; every attempt is
// recorded with the (bubble) time it happened.
type fakeTarget struct {
	mu       sync.Mutex
	life     time.Duration
	down     bool
	est, exp time.Time
	fails    int
	first    time.Time
	retryAt  time.Time
	attempts []time.Time
	renewed  []time.Time
	planned  time.Time
	changed  chan struct{}
	policy   renewal.Policy
	rnd      *rand.Rand
}

func newFake(life time.Duration) *fakeTarget {
	now := time.Now()
	return &fakeTarget{life: life, est: now, exp: now.Add(life), changed: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(9, 9))}
}

func (f *fakeTarget) schedule() (time.Time, time.Time, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.est, f.exp, f.retryAt, true
}

func (f *fakeTarget) renewCurrent(context.Context) error {
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

func (f *fakeTarget) woken() <-chan struct{}               { return f.changed }
func (f *fakeTarget) nextCancel() time.Time                { return time.Time{} }
func (f *fakeTarget) cancelDue(context.Context, time.Time) {}
func (f *fakeTarget) scheduled(at time.Time) {
	f.mu.Lock()
	f.planned = at
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
	go func() { keep(ctx, f, f.policy, rng.Float64); close(done) }()
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
		old := f.planned
		f.est, f.exp = time.Now(), time.Now().Add(10*time.Hour)
		f.mu.Unlock()
		f.changed <- struct{}{}
		synctest.Wait()
		f.mu.Lock()
		moved := f.planned
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
		f.policy = renewal.Policy{Base: time.Second}
		// RetryAt of this target always answers "now".
		g := &pastTarget{fakeTarget: f}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { keep(ctx, g, f.policy, func() float64 { return 0.5 }); close(done) }()
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

func (p *pastTarget) schedule() (time.Time, time.Time, time.Time, bool) {
	est, exp, _, ok := p.fakeTarget.schedule()
	return est, exp, time.Now().Add(-time.Second), ok
}
