package cli

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
)

// madeProxies records the Proxies an agent makes, and makes the one
// numbered failAt (from 1; 0 never) fail.
type madeProxies struct {
	made   []*outbound.Proxy
	failAt int
}

func (m *madeProxies) newProxy(cfg outbound.Config) (*outbound.Proxy, error) {
	if len(m.made)+1 == m.failAt {
		return nil, errors.New("no proxy this time")
	}
	p, err := outbound.New(cfg)
	if err == nil {
		m.made = append(m.made, p)
	}
	return p, err
}

// TestReloadNotTakingEffectShutsDownItsServices: a reload that does not
// take effect (the Front is shutting down, or a service's Proxy cannot
// be made) shuts down every Proxy it made, so that none keeps a pool
// that could establish and renew contexts nobody cancels, and the
// running services stay as they were.
func TestReloadNotTakingEffectShutsDownItsServices(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failAt      int
		closeFront  bool
		errorSays   string
		wantCreated int
	}{
		{name: "front closed", closeFront: true, errorSays: "shutting down", wantCreated: 3},
		{name: "third proxy fails", failAt: 3, errorSays: "no proxy this time", wantCreated: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newReloadRig(t)
			path := rig.dir + "/scproxy.yaml"
			a0 := testService{name: "a", kind: kindUsernameEnv, sc: "1.3"}
			rig.write(t, path, []testService{a0})
			l := &configLoader{file: path, overrides: overrides{}, s: Streams{Err: io.Discard, Getenv: mapEnv(map[string]string{"PW": canary})}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			a, err := newAgent(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			before := a.running["a"].proxy
			if tc.closeFront {
				ln, err := a.front.Listen()
				if err != nil {
					t.Fatal(err)
				}
				served := make(chan error, 1)
				go func() { served <- a.front.Serve(ctx, ln) }()
				cancel()
				if err := <-served; err != nil {
					t.Fatal(err)
				}
			}
			m := &madeProxies{failAt: tc.failAt}
			a.newProxy = m.newProxy
			t.Cleanup(func() {
				for _, p := range m.made {
					p.Shutdown(context.Background())
				}
			})
			// a changed, b and c new: three Proxies to make.
			a1 := a0
			a1.extra = []string{"    upstream-timeout: 90s"}
			next := []testService{a1, {name: "b", kind: kindUsernameEnv, sc: "1.3"}, {name: "c", kind: kindCertificate, sc: "2005-02"}}
			rig.write(t, path, next)
			if _, err := a.reload(context.Background()); err == nil || !strings.Contains(err.Error(), tc.errorSays) {
				t.Fatalf("reload: %v, want an error saying %q", err, tc.errorSays)
			}
			if len(m.made) != tc.wantCreated {
				t.Fatalf("the reload made %d proxies, want %d", len(m.made), tc.wantCreated)
			}
			for i, p := range m.made {
				u, err := url.Parse(rig.upstream(next[i].name, next[i].kind))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Endpoint(u); err == nil || !strings.Contains(err.Error(), "shutting down") {
					t.Errorf("proxy of %s, made by the reload that did not take effect: Endpoint: %v, want it shut down", next[i].name, err)
				}
			}
			if len(a.running) != 1 || a.running["a"].proxy != before {
				t.Errorf("running after the reload: %v, want a as before", slices.Sorted(maps.Keys(a.running)))
			}
		})
	}
}
