package session_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
)

// An endpoint nobody asks for during the pool's IdleTimeout is dropped:
// its context is cancelled and its place freed, so that a pool filled
// once does not stay full; an endpoint in use is kept, and a request
// after the eviction gets a new endpoint.
func TestPoolEvictsIdleEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Hour
		r := newMemRig(t, scserver.Config{Lifetime: 10 * time.Hour}, nil)
		pool := session.NewPool(session.PoolConfig{MaxEndpoints: 2, IdleTimeout: idle})
		defer pool.Close(context.Background())
		get := func(key string) *session.Endpoint {
			t.Helper()
			ep, err := pool.Endpoint(key, func() session.Config { return r.config(nil) })
			if err != nil {
				t.Fatalf("endpoint %s: %v", key, err)
			}
			if _, err := ep.Context(t.Context(), wire12); err != nil {
				t.Fatal(err)
			}
			return ep
		}
		quiet, busy := get("quiet"), get("busy")
		if _, err := pool.Endpoint("third", func() session.Config { return r.config(nil) }); err == nil {
			t.Fatal("a third endpoint in a pool of two")
		}
		for range 4 { // busy is asked for every 20 minutes; quiet never
			time.Sleep(20 * time.Minute)
			get("busy")
		}
		synctest.Wait()
		eps := pool.Endpoints()
		if len(eps) != 1 || eps[0] != busy {
			t.Fatalf("after %v: %d endpoints, want busy only", idle+20*time.Minute, len(eps))
		}
		if st := quiet.Status(); st.State != session.StateClosed || st.Cancels != 1 {
			t.Fatalf("evicted endpoint: %+v, want closed with its context cancelled", st)
		}
		if st := r.srv.Stats(); st.Cancelled != 1 {
			t.Fatalf("server saw %d cancels, want 1", st.Cancelled)
		}
		if again := get("quiet"); again == quiet {
			t.Fatal("the evicted endpoint was handed out again")
		}
		if n := len(pool.Endpoints()); n != 2 {
			t.Fatalf("%d endpoints, want 2", n)
		}
	})
}

// Without IdleTimeout every endpoint stays.
func TestPoolKeepsEndpointsWithoutIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRig(t, scserver.Config{}, nil)
		pool := session.NewPool(session.PoolConfig{})
		defer pool.Close(context.Background())
		for i := range 3 {
			if _, err := pool.Endpoint(fmt.Sprint(i), func() session.Config { return r.config(nil) }); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Hour)
		if n := len(pool.Endpoints()); n != 3 {
			t.Fatalf("%d endpoints after 100h, want 3", n)
		}
	})
}
