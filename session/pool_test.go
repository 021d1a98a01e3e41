package session_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
)

// The pool makes each endpoint once, up to its limit, and none once it
// is closing; closing twice does nothing.
func TestPoolLimitAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRig(t, scserver.Config{}, nil)
		pool := session.NewPool(session.PoolConfig{MaxEndpoints: 2})
		made := 0
		get := func(key string) (*session.Endpoint, error) {
			return pool.Endpoint(key, func() session.Config { made++; return r.config(nil) })
		}
		a, err := get("a")
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := get("a"); again != a {
			t.Fatal("a second endpoint for the same key")
		}
		if _, err := get("b"); err != nil {
			t.Fatal(err)
		}
		if _, err := get("c"); err == nil || !strings.Contains(err.Error(), "more than 2 upstream endpoints") {
			t.Fatalf("third endpoint: %v, want the limit", err)
		}
		if made != 2 || len(pool.Endpoints()) != 2 || len(pool.Status()) != 2 {
			t.Fatalf("%d configurations made, %d endpoints", made, len(pool.Endpoints()))
		}
		if err := pool.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := pool.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := a.Status(); st.State != session.StateClosed {
			t.Fatalf("state %s after Close", st.State)
		}
		closed := session.NewPool(session.PoolConfig{})
		closed.Close(t.Context())
		if _, err := closed.Endpoint("a", func() session.Config { return r.config(nil) }); err == nil || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("endpoint of a closed pool: %v", err)
		}
	})
}

// Each endpoint's keeper renews its context inside the renewal window
// without a request asking, announces the plan in the status, and stops
// at Close, which cancels the context (unless the pool keeps contexts).
func TestPoolKeeperRenewsAndCloseCancels(t *testing.T) {
	for _, keep := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			r := newMemRig(t, scserver.Config{Lifetime: 10 * time.Minute}, nil)
			pool := session.NewPool(session.PoolConfig{KeepContexts: keep})
			ep, err := pool.Endpoint("k", func() session.Config { return r.config(nil) })
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := ep.Context(t.Context(), wire12); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			next := ep.Status().NextRenewal
			if d := next.Sub(start); d < 5*time.Minute+30*time.Second || d > 6*time.Minute {
				t.Fatalf("next renewal %v after establishment, want within [5m30s, 6m]", d)
			}
			time.Sleep(time.Until(next))
			synctest.Wait()
			if st := r.srv.Stats(); st.Renewed != 1 {
				t.Fatalf("renewed %d at the planned time, want 1", st.Renewed)
			}
			if err := pool.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := 1
			if keep {
				want = 0
			}
			if st := r.srv.Stats(); st.Cancelled != want {
				t.Fatalf("keep %v: cancelled %d at Close, want %d", keep, st.Cancelled, want)
			}
			if st := ep.Status(); st.State != session.StateClosed || !st.NextRenewal.IsZero() {
				t.Fatalf("status after Close %+v", st)
			}
		})
	}
}
