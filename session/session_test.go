package session_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

const password = "canary-Session-P4ss"

type rig struct {
	srv *scserver.Server
	ep  *session.Endpoint
}

func newRig(t *testing.T, scfg scserver.Config, mod func(*session.Config)) *rig {
	t.Helper()
	scfg.PlainHTTP = true
	if scfg.Users == nil {
		scfg.Users = map[string]string{"demo": password}
	}
	srv, err := scserver.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	u, _ := url.Parse(ts.URL + "/svc")
	cfg := session.Config{
		URL: u, Version: wssc.V1_3, Bootstrap: session.Username{User: "demo", Password: creds.NewSecret(password)},
		Client: upstream.New(upstream.Config{RootCAs: pool}), Timeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	ep, err := session.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{srv: srv, ep: ep}
}

var wire12 = session.Wire{SOAP: soap.V12, Addressing: wsa.V10}

func TestConcurrentFirstCallersShareOneIssue(t *testing.T) {
	r := newRig(t, scserver.Config{Script: scserver.Script{Delay: 50 * time.Millisecond}}, nil)
	var wg sync.WaitGroup
	got := make([]*session.Context, 64)
	errs := make([]error, 64)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = r.ep.Context(context.Background(), wire12) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("caller %d got another context", i)
		}
	}
	if n := r.srv.Stats().Issued; n != 1 {
		t.Fatalf("%d Issues, want 1", n)
	}
	if len(got[0].Secure().Key) != 32 || got[0].Identifier() == "" || got[0].Expires.IsZero() {
		t.Fatalf("context incomplete: %v", got[0])
	}
}

func TestCallerGivingUpDoesNotCancelTheEstablishment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRig(t, scserver.Config{Script: scserver.Script{Delay: 200 * time.Millisecond}}, nil)
		ep := r.endpoint(t, nil)
		impatient, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			time.Sleep(5 * time.Millisecond) // join the establishment the impatient caller starts
			_, err := ep.Context(context.Background(), wire12)
			done <- err
		}()
		if _, err := ep.Context(impatient, wire12); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("impatient caller: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("patient caller: %v", err)
		}
		if r.srv.Stats().Issued != 1 || ep.Current() == nil {
			t.Fatal("establishment did not complete once")
		}
	})
}

// A context within the margin of its expiry is renewed before use, not
// used: a message signed with it would arrive expired at a server whose
// clock is ahead. The margin is the service's clock skew (5 minutes by
// default), clamped to a quarter of a short context's life.
func TestContextWithinTheMarginIsRenewedBeforeUse(t *testing.T) {
	for _, tc := range []struct {
		name         string
		life, margin time.Duration
		usable       time.Duration
	}{
		{"default margin", time.Hour, 0, 55 * time.Minute},
		{"set margin", time.Hour, 10 * time.Minute, 50 * time.Minute},
		{"clamped for a 2-minute context", 2 * time.Minute, 0, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newMemRig(t, scserver.Config{Lifetime: tc.life}, nil)
				// No keeper renews it at 60% of its life: a keeper held
				// back by failures, say.
				ep := r.unkept(t, func(c *session.Config) { c.ExpiryMargin = tc.margin })
				first, err := ep.Context(t.Context(), wire12)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.usable - time.Millisecond)
				if c, err := ep.Context(t.Context(), wire12); err != nil || c != first {
					t.Fatalf("before the margin: %v, %v; want the first context", c, err)
				}
				time.Sleep(time.Millisecond)
				c, err := ep.Context(t.Context(), wire12)
				if err != nil {
					t.Fatal(err)
				}
				if c == first || c.Identifier() != first.Identifier() || time.Until(first.Expires) != tc.life-tc.usable {
					t.Fatalf("within the margin got %v, want the first context renewed", c)
				}
				if st := r.srv.Stats(); st.Issued != 1 || st.Renewed != 1 || st.Rejected != 0 {
					t.Fatalf("server saw issued %d renewed %d rejected %d", st.Issued, st.Renewed, st.Rejected)
				}
			})
		})
	}
}

func TestInvalidateDropsOnlyTheRejectedContext(t *testing.T) {
	r := newRig(t, scserver.Config{}, nil)
	first, err := r.ep.Context(context.Background(), wire12)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ep.Invalidate(first) {
		t.Fatal("current context not dropped")
	}
	second, err := r.ep.Context(context.Background(), wire12)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second.Identifier() == first.Identifier() {
		t.Fatal("no new context")
	}
	// A late failure report about the first context leaves the second.
	if r.ep.Invalidate(first) {
		t.Fatal("a stale context invalidated the current one")
	}
	if r.ep.Current() != second || r.srv.Stats().Issued != 2 {
		t.Fatalf("current %v, issued %d", r.ep.Current(), r.srv.Stats().Issued)
	}
}

func TestSTSFaultIsTypedAndNotCached(t *testing.T) {
	r := newRig(t, scserver.Config{}, func(c *session.Config) {
		c.Bootstrap = session.Username{User: "demo", Password: creds.NewSecret("wrong-password")}
	})
	for range 2 {
		_, err := r.ep.Context(context.Background(), wire12)
		var se *session.Error
		var f *soap.Fault
		if !errors.As(err, &se) || !errors.As(err, &f) || se.Op != wssc.Issue {
			t.Fatalf("error %v (%T): want a *session.Error wrapping a *soap.Fault", err, err)
		}
		if !strings.Contains(err.Error(), "establishment of a security context with https://127.0.0.1:") {
			t.Fatalf("error does not name the endpoint: %v", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Fatal("password in the error")
		}
	}
	if n := r.srv.Stats().Requests; n != 2 {
		t.Fatalf("%d requests at the STS, want 2 (a failure is not cached)", n)
	}
}

func TestEstablishmentTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRig(t, scserver.Config{Script: scserver.Script{Delay: 2 * time.Second}}, nil)
		ep := r.endpoint(t, func(c *session.Config) { c.Timeout = 100 * time.Millisecond })
		start := time.Now()
		_, err := ep.Context(context.Background(), wire12)
		var ue *upstream.Error
		if !errors.As(err, &ue) || ue.Kind != upstream.Timeout {
			t.Fatalf("error %v, want an upstream timeout", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("took %v, want the 100ms timeout", d)
		}
	})
}

func TestEveryVersionAndEntropy(t *testing.T) {
	modes := map[wssc.EntropyMode]scserver.Entropy{
		wssc.CombinedEntropy: scserver.EntropyCombined, wssc.ClientEntropy: scserver.EntropyClient, wssc.ServerEntropy: scserver.EntropyServer,
	}
	for _, v := range wssc.Versions {
		for mode, smode := range modes {
			for _, w := range []session.Wire{wire12, {SOAP: soap.V11}, {SOAP: soap.V11, Addressing: wsa.V200408}} {
				t.Run(v.String()+"/"+mode.String()+"/"+w.SOAP.String()+"/"+w.Addressing.String(), func(t *testing.T) {
					r := newRig(t, scserver.Config{Versions: []wssc.Version{v}, Entropy: smode}, func(c *session.Config) {
						c.Version, c.Entropy = v, mode
					})
					c, err := r.ep.Context(context.Background(), w)
					if err != nil {
						t.Fatal(err)
					}
					if c.Wire != w || c.Version != v || len(c.Secure().Key) != 32 {
						t.Fatalf("context %+v", c)
					}
				})
			}
		}
	}
}

func TestWrongVersionAgainstServer(t *testing.T) {
	r := newRig(t, scserver.Config{Versions: []wssc.Version{wssc.V1_3}}, func(c *session.Config) { c.Version = wssc.Feb2005 })
	_, err := r.ep.Context(context.Background(), wire12)
	var f *soap.Fault
	if !errors.As(err, &f) {
		t.Fatalf("error %v, want the server's fault", err)
	}
}
