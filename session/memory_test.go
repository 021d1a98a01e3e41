package session_test

import (
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/wssc"
)

// memory serves h in process (testkit.Upstream), for tests in a synctest
// bubble: every goroutine of an exchange, the handler's included, is in
// the bubble, so its time is the bubble's. down fails every request as a
// closed server would.
type memory struct {
	up   testkit.Upstream
	down atomic.Bool
}

func (m *memory) RoundTrip(req *http.Request) (*http.Response, error) {
	if m.down.Load() {
		return nil, errors.New("connection refused")
	}
	return m.up.RoundTrip(req)
}

// memRig is a built-in server reached in process, and a pool of its
// endpoints; it must be made inside the bubble.
type memRig struct {
	srv  *scserver.Server
	mem  *memory
	pool *session.Pool
	url  *url.URL
}

func newMemRig(t *testing.T, scfg scserver.Config, wrap func(http.Handler) http.Handler) *memRig {
	t.Helper()
	scfg.PlainHTTP = true
	if scfg.Users == nil {
		scfg.Users = map[string]string{"demo": password}
	}
	srv, err := scserver.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	r := &memRig{srv: srv, mem: &memory{up: testkit.Upstream{Handler: h}}, pool: session.NewPool(session.PoolConfig{})}
	r.url, _ = url.Parse("https://sts.test/svc")
	t.Cleanup(func() { r.pool.Close(t.Context()); srv.Close() })
	return r
}

func (r *memRig) config(mod func(*session.Config)) session.Config {
	cfg := session.Config{
		URL: r.url, Version: wssc.V1_3, Bootstrap: session.Username{User: "demo", Password: creds.NewSecret(password)},
		Client: upstream.New(upstream.Config{Transport: r.mem}), Timeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// endpoint returns the pool's endpoint for the server, configured by mod.
func (r *memRig) endpoint(t *testing.T, mod func(*session.Config)) *session.Endpoint {
	t.Helper()
	ep, err := r.pool.Endpoint(r.url.String(), func() session.Config { return r.config(mod) })
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// unkept returns an endpoint without a keeper: renewed only when asked.
func (r *memRig) unkept(t *testing.T, mod func(*session.Config)) *session.Endpoint {
	t.Helper()
	ep, err := session.New(r.config(mod))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}
