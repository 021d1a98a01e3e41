package credcache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/credcache"
)

// cred is a test credential.
type cred struct {
	n           int64
	from, until time.Time
}

// source fetches creds of a given life, taking delay, failing while down.
type source struct {
	life    time.Duration
	delay   time.Duration
	fetches atomic.Int64
	down    atomic.Bool
	ctxErr  atomic.Value // the fetch context's error when the fetch ended
}

func (s *source) fetch(ctx context.Context) (*cred, error) {
	n := s.fetches.Add(1)
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			s.ctxErr.Store(ctx.Err())
			return nil, ctx.Err()
		}
	}
	s.ctxErr.Store(errors.New("none"))
	if ctx.Err() != nil {
		s.ctxErr.Store(ctx.Err())
	}
	if s.down.Load() {
		return nil, errors.New("issuer down")
	}
	now := time.Now()
	return &cred{n: n, from: now, until: now.Add(s.life)}, nil
}

func newCache(mod func(*credcache.Config[*cred])) *credcache.Cache[*cred] {
	cfg := credcache.Config[*cred]{Lifetime: func(c *cred) (time.Time, time.Time) { return c.from, c.until }}
	if mod != nil {
		mod(&cfg)
	}
	return credcache.New(cfg)
}

func TestHundredCallersOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(nil)
		var wg sync.WaitGroup
		got := make([]*cred, 100)
		for i := range got {
			wg.Go(func() {
				v, err := c.Get(t.Context(), src.fetch)
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		wg.Wait()
		if n := src.fetches.Load(); n != 1 {
			t.Fatalf("%d fetches for 100 callers, want 1", n)
		}
		for i, v := range got {
			if v != got[0] {
				t.Fatalf("caller %d got another value", i)
			}
		}
		// Later callers read it without fetching.
		if v, _ := c.Get(t.Context(), src.fetch); v != got[0] || src.fetches.Load() != 1 {
			t.Fatal("a usable value was fetched again")
		}
	})
}

func TestAbandonedCallerDoesNotCancelTheFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(nil)
		impatient, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		patient := make(chan *cred, 1)
		go func() {
			time.Sleep(5 * time.Millisecond) // joins the fetch the impatient caller started
			v, _ := c.Get(t.Context(), src.fetch)
			patient <- v
		}()
		if _, err := c.Get(impatient, src.fetch); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("impatient caller: %v", err)
		}
		v := <-patient
		if v == nil || src.fetches.Load() != 1 {
			t.Fatalf("patient caller got %v after %d fetches", v, src.fetches.Load())
		}
		if err := src.ctxErr.Load().(error); err.Error() != "none" {
			t.Fatalf("the fetch's context ended: %v", err)
		}
	})
}

func TestFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Hour}
		c := newCache(func(c *credcache.Config[*cred]) { c.Timeout = 3 * time.Second })
		start := time.Now()
		_, err := c.Get(t.Context(), src.fetch)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("error %v after %v, want the fetch timeout after 3s", err, time.Since(start))
		}
	})
}

func TestInvalidateDropsOnlyTheRejectedValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(nil)
		first, _ := c.Get(t.Context(), src.fetch)
		// Ten requests fail with the first value at once: one refresh.
		var wg sync.WaitGroup
		var dropped atomic.Int64
		for range 10 {
			wg.Go(func() {
				if c.Invalidate(first) {
					dropped.Add(1)
				}
				if v, err := c.Get(t.Context(), src.fetch); err != nil || v == first {
					t.Errorf("after invalidation: %v, %v", v, err)
				}
			})
		}
		wg.Wait()
		if dropped.Load() != 1 || src.fetches.Load() != 2 {
			t.Fatalf("%d drops, %d fetches; want 1 and 2", dropped.Load(), src.fetches.Load())
		}
		second, _ := c.Peek()
		if c.Invalidate(first) {
			t.Fatal("a stale report dropped the new value")
		}
		if v, ok := c.Peek(); !ok || v != second {
			t.Fatal("the new value is gone")
		}
	})
}

func TestSameMakesInvalidateMatchRelatedValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour}
		c := newCache(func(c *credcache.Config[*cred]) {
			c.Same = func(a, b *cred) bool { return a.until.Equal(b.until) }
		})
		v, _ := c.Get(t.Context(), src.fetch)
		twin := &cred{until: v.until}
		if !c.Invalidate(twin) {
			t.Fatal("a value Same says is held was not dropped")
		}
	})
}

func TestRefreshOfAReplacedValueReturnsTheCurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour}
		c := newCache(nil)
		first, _ := c.Get(t.Context(), src.fetch)
		second, err := c.Refresh(t.Context(), first, src.fetch)
		if err != nil || second == first {
			t.Fatalf("refresh: %v, %v", second, err)
		}
		again, _ := c.Refresh(t.Context(), first, src.fetch)
		if again != second || src.fetches.Load() != 2 {
			t.Fatalf("a late refresh of the old value fetched (%d fetches)", src.fetches.Load())
		}
	})
}

// A value within the margin of its expiry is never handed out: it is
// replaced first. The margin is clamped to a quarter of a short life.
func TestMargin(t *testing.T) {
	for _, tc := range []struct {
		name         string
		life, margin time.Duration
		usable       time.Duration // how long a value is handed out
	}{
		{"default 5 minutes", time.Hour, 0, 55 * time.Minute},
		{"set", time.Hour, 10 * time.Minute, 50 * time.Minute},
		{"clamped for a 2-minute value", 2 * time.Minute, 0, 90 * time.Second},
		{"none", time.Hour, -1, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &source{life: tc.life}
				c := newCache(func(c *credcache.Config[*cred]) { c.Margin = tc.margin })
				first, _ := c.Get(t.Context(), src.fetch)
				time.Sleep(tc.usable - time.Nanosecond)
				if v, _ := c.Get(t.Context(), src.fetch); v != first {
					t.Fatalf("replaced %v before the margin", time.Since(first.from))
				}
				time.Sleep(time.Nanosecond)
				v, err := c.Get(t.Context(), src.fetch)
				if err != nil || v == first || src.fetches.Load() != 2 {
					t.Fatalf("at %v before its expiry the value was handed out (%d fetches)", first.until.Sub(time.Now()), src.fetches.Load())
				}
			})
		})
	}
	if m := credcache.Clamp(credcache.DefaultMargin, time.Time{}, time.Time{}); m != 0 {
		t.Fatalf("a value that never expires has margin %v", m)
	}
}

// After a failure, while a stale value is held, callers fail at once with
// the last error until the retry time; then one fetch is tried.
func TestBackoffHoldsCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(func(c *credcache.Config[*cred]) {
			c.Backoff = func(first time.Time, n int, _ error) time.Time { return first.Add(time.Duration(n) * time.Minute) }
		})
		first, _ := c.Get(t.Context(), src.fetch)
		src.down.Store(true)
		if _, err := c.Refresh(t.Context(), first, src.fetch); err == nil {
			t.Fatal("refresh against a down issuer succeeded")
		}
		var held *credcache.HeldError
		start := time.Now()
		_, err := c.Refresh(t.Context(), first, src.fetch)
		if !errors.As(err, &held) || held.Failures != 1 || held.Underway || time.Since(start) != 0 || held.Err.Error() != "issuer down" {
			t.Fatalf("error %v after %v, want a HeldError at once", err, time.Since(start))
		}
		if !held.RetryAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("retry at %v, want a minute after the first failure", held.RetryAt)
		}
		// The stale value is still handed out while usable.
		if v, err := c.Get(t.Context(), src.fetch); v != first || err != nil {
			t.Fatalf("usable value not handed out: %v", err)
		}
		if n := src.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches while held", n)
		}
		time.Sleep(time.Until(held.RetryAt))
		src.down.Store(false)
		if v, err := c.Refresh(t.Context(), first, src.fetch); err != nil || v == first {
			t.Fatalf("after the retry time: %v, %v", v, err)
		}
		if st := c.State(); st.Failures != 0 || st.Err != nil {
			t.Fatalf("a success did not clear the failures: %+v", st)
		}
	})
}

// Without a backoff, failures are not remembered: every call fetches.
func TestFailuresWithoutABackoffAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{}
		src.down.Store(true)
		c := newCache(nil)
		for range 2 {
			if _, err := c.Get(t.Context(), src.fetch); err == nil || err.Error() != "issuer down" {
				t.Fatalf("error %v", err)
			}
		}
		if n := src.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2", n)
		}
	})
}

// A failure to fetch the first value (a wrong password) holds callers as
// a failure to replace one does: until the retry time, and while the
// retry is under way, callers get a HeldError with the last error at
// once, so that twenty callers make one attempt, not twenty. The backoff
// is told the error, to wait longer after some.
func TestFailureWithoutAValueHoldsCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{delay: time.Second}
		src.down.Store(true)
		var told []error
		c := newCache(func(c *credcache.Config[*cred]) {
			c.Backoff = func(first time.Time, n int, err error) time.Time {
				told = append(told, err)
				return first.Add(time.Duration(n) * time.Minute)
			}
		})
		if _, err := c.Get(t.Context(), src.fetch); err == nil || err.Error() != "issuer down" {
			t.Fatalf("first call: %v", err)
		}
		if len(told) != 1 || told[0].Error() != "issuer down" {
			t.Fatalf("the backoff was told %v, want the failure", told)
		}
		for range 20 {
			start := time.Now()
			_, err := c.Get(t.Context(), src.fetch)
			var held *credcache.HeldError
			if !errors.As(err, &held) || held.Failures != 1 || held.Underway || time.Since(start) != 0 || held.Err.Error() != "issuer down" {
				t.Fatalf("error %v after %v, want a HeldError at once", err, time.Since(start))
			}
		}
		if n := src.fetches.Load(); n != 1 {
			t.Fatalf("%d fetches for 21 calls, want 1", n)
		}
		time.Sleep(time.Minute)
		go c.Get(context.Background(), src.fetch) // the retry
		synctest.Wait()
		var held *credcache.HeldError
		if _, err := c.Get(t.Context(), src.fetch); !errors.As(err, &held) || !held.Underway {
			t.Fatalf("while the retry is under way: %v, want a HeldError saying so", err)
		}
		src.down.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if n := src.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2 (one retry)", n)
		}
		time.Sleep(2 * time.Minute)
		if _, err := c.Get(t.Context(), src.fetch); err != nil {
			t.Fatalf("after the issuer recovered: %v", err)
		}
		if st := c.State(); st.Failures != 0 || st.Err != nil || !st.Held {
			t.Fatalf("a success did not clear the failures: %+v", st)
		}
	})
}

// Past the advisory refresh time the current value is handed out at once
// while one fetch replaces it in the background; a failed refresh keeps it.
func TestAdvisoryRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(func(c *credcache.Config[*cred]) {
			c.RefreshAt = func(v *cred) time.Time { return v.from.Add(30 * time.Minute) }
		})
		first, _ := c.Get(t.Context(), src.fetch)
		time.Sleep(30 * time.Minute)
		src.down.Store(true)
		for range 5 {
			if v, err := c.Get(t.Context(), src.fetch); v != first || err != nil {
				t.Fatalf("in the refresh window: %v, %v", v, err)
			}
		}
		synctest.Wait()
		if n := src.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches once in the window, want 2 (one in the background)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if v, _ := c.Peek(); v != first || src.fetches.Load() != 2 {
			t.Fatal("a failed refresh dropped the value")
		}
		src.down.Store(false)
		c.Get(t.Context(), src.fetch)
		time.Sleep(time.Second)
		synctest.Wait()
		if v, _ := c.Get(t.Context(), src.fetch); v == first || src.fetches.Load() != 3 {
			t.Fatalf("not refreshed in the background (%d fetches)", src.fetches.Load())
		}
	})
}

func TestCloseWaitsAndRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{life: time.Hour, delay: time.Second}
		c := newCache(nil)
		go c.Get(context.Background(), src.fetch)
		synctest.Wait()
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		v, ok := c.Peek()
		if !ok || v == nil {
			t.Fatal("Close did not wait for the fetch under way")
		}
		if got, err := c.Get(t.Context(), src.fetch); got != v || err != nil {
			t.Fatal("a usable value is not handed out after Close")
		}
		c.Invalidate(v)
		if _, err := c.Get(t.Context(), src.fetch); !errors.Is(err, credcache.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}

// A fetch still under way when Close's deadline passes is cancelled: its
// owner is going, and what it would make could never be cleaned up.
func TestCloseCancelsAFetchPastItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan error, 1)
		fetch := func(ctx context.Context) (*cred, error) {
			<-ctx.Done() // a hung issuer
			stopped <- ctx.Err()
			return nil, ctx.Err()
		}
		c := newCache(nil)
		go c.Get(context.Background(), fetch)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want its deadline", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Close took %v, want its 2s deadline", d)
		}
		synctest.Wait()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("fetch ended with %v, want cancelled", err)
			}
		default:
			t.Fatal("the fetch was left running after Close")
		}
	})
}
