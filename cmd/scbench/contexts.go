package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/bench"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// establishFigure is the time to establish a context with one bootstrap.
type establishFigure struct {
	Bootstrap string  `json:"bootstrap"`
	Samples   int     `json:"samples"`
	Errors    int     `json:"errors"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	// Note says why the bootstrap was not measured.
	Note string `json:"note,omitempty"`
}

// namedBootstrap is a bootstrap to time, or why there is none.
type namedBootstrap struct {
	name string
	b    session.Bootstrap
	note string
}

// bootstraps returns the bootstraps the demo server can check. The
// issued token is fetched from the demo server's token service (when it
// runs one) by the first, unmeasured establishment and then held, as a
// proxy holds it between establishments.
func bootstraps(g *rig) []namedBootstrap {
	out := []namedBootstrap{{name: "username", b: session.Username{User: "bench", Password: creds.NewSecret(g.password)}}}
	named := func(name string, b session.Bootstrap, err error) namedBootstrap {
		if err != nil {
			return namedBootstrap{name: name, note: "not measured: " + err.Error()}
		}
		return namedBootstrap{name: name, b: b}
	}
	cert, err := bootstrap.NewCertificate(g.pki.cred)
	out = append(out, named("certificate", cert, err))
	out = append(out, namedBootstrap{name: "kerberos", note: "not measured here (needs a KDC): `go test -run '^$' -bench EstablishKerberos ./bootstrap` times it against a real MIT KDC"})
	if !g.issuesTokens {
		return append(out, namedBootstrap{name: "issued-token", note: "not measured: this demo server has no --issue-tokens"})
	}
	tok, err := bootstrap.NewIssuedTokenFromSTS(bootstrap.TokenSTS{
		URL: g.svc, Version: wssc.Feb2005, Username: "bench", Password: creds.NewSecret(g.password), AppliesTo: g.svc.String(),
		Client: upstream.New(upstream.Config{RootCAs: g.roots}),
	})
	return append(out, named("issued-token", tok, err))
}

// measureEstablishment times n establishments of a fresh context per
// bootstrap against the service over loopback TLS, as an endpoint does on
// its first request: the Issue exchange, the bootstrap's signature and
// the key computation, on a connection already open (one warm-up
// establishment first).
func measureEstablishment(ctx context.Context, svc *url.URL, roots *x509.CertPool, boots []namedBootstrap, n int) []establishFigure {
	client := upstream.New(upstream.Config{RootCAs: roots})
	defer client.CloseIdle()
	var out []establishFigure
	for _, nb := range boots {
		f := establishFigure{Bootstrap: nb.name, Note: nb.note}
		if nb.b == nil {
			out = append(out, f)
			continue
		}
		var took []time.Duration
		for i := range n + 1 {
			ep, err := session.New(session.Config{URL: svc, Version: wssc.Feb2005, Bootstrap: nb.b, Client: client})
			if err != nil {
				f.Note = err.Error()
				break
			}
			start := time.Now()
			_, err = ep.Context(ctx, session.Wire{SOAP: soap.V12, Addressing: wsa.V10})
			d := time.Since(start)
			switch {
			case err != nil:
				f.Errors++
				f.Note = err.Error()
			case i > 0:
				took = append(took, d)
			}
		}
		f.Samples = len(took)
		f.P50ms = float64(bench.Percentile(took, 50)) / float64(time.Millisecond)
		f.P99ms = float64(bench.Percentile(took, 99)) / float64(time.Millisecond)
		out = append(out, f)
	}
	return out
}

// memoryFigure is what holding n endpoints costs one proxy process.
type memoryFigure struct {
	Endpoints   int `json:"endpoints"`
	Established int `json:"established"`
	Errors      int `json:"errors"`
	// BytesPerContext is live heap plus goroutine stacks per endpoint.
	BytesPerContext      float64 `json:"bytes_per_context"`
	HeapPerContext       float64 `json:"heap_per_context"`
	StackPerContext      float64 `json:"stack_per_context"`
	GoroutinesPerContext float64 `json:"goroutines_per_context"`
	Seconds              float64 `json:"seconds"`
	FirstError           string  `json:"first_error,omitempty"`
}

// memStats reads live heap and stacks after collecting garbage twice
// (the second pass frees what finalizers of the first released).
func memStats() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse, runtime.NumGoroutine()
}

// warmEndpoints are established before the baseline reading, with as
// many callers as the measurement uses, so that the connections they
// open are not charged to the contexts.
const warmEndpoints = 16

// measureMemory runs a proxy in this process with one route to the
// service and makes it hold levels[i] endpoints in turn (each a path
// configured as an endpoint of the route, with its own context, renewal
// loop and precomputed header), reading live memory per endpoint after
// each level.
func measureMemory(ctx context.Context, svc *url.URL, roots *x509.CertPool, password string, levels []int) ([]memoryFigure, error) {
	top := levels[len(levels)-1]
	// Each path is configured as an endpoint of the route: callers do not
	// make endpoints of their own.
	var eps []string
	for i := range warmEndpoints {
		eps = append(eps, fmt.Sprintf("/warm/%d", i))
	}
	for i := range top {
		eps = append(eps, fmt.Sprintf("/e/%d", i))
	}
	p, err := outbound.New(outbound.Config{
		Listen: "127.0.0.1:0", Routes: []outbound.Route{{Prefix: "/", Upstream: svc, Endpoints: eps}}, RootCAs: roots,
		Bootstrap: session.Username{User: "bench", Password: creds.NewSecret(password)}, SC: wssc.Feb2005,
		SOAP: soap.V12, Addressing: outbound.Addressing{Version: wsa.V10},
		MaxEndpoints: top + warmEndpoints + 1, KeepContexts: true, EstablishRate: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = p.Serve(sctx, ln); close(served) }()
	defer func() { stop(); <-served }()

	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: warmEndpoints}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	base := "http://" + ln.Addr().String()
	if n, errs, first := establish(ctx, client, base+"/warm/", 0, warmEndpoints, warmEndpoints); errs > 0 {
		return nil, fmt.Errorf("memory: warm-up: %d of %d endpoints failed: %s", errs, n+errs, first)
	}
	heap0, stack0, g0 := memStats()
	var out []memoryFigure
	done := 0
	for _, level := range levels {
		start := time.Now()
		n, errs, first := establish(ctx, client, base+"/e/", done, level, min(warmEndpoints, level-done))
		heap, stack, g := memStats()
		done = level
		f := memoryFigure{Endpoints: level, Established: n, Errors: errs, FirstError: first, Seconds: time.Since(start).Seconds()}
		f.HeapPerContext = float64(int64(heap)-int64(heap0)) / float64(level)
		f.StackPerContext = float64(int64(stack)-int64(stack0)) / float64(level)
		f.BytesPerContext = f.HeapPerContext + f.StackPerContext
		f.GoroutinesPerContext = float64(g-g0) / float64(level)
		out = append(out, f)
	}
	// The figures count everything live; the established count comes from
	// the proxy itself.
	if got := len(p.Endpoints()) - warmEndpoints; got != done {
		out[len(out)-1].FirstError = fmt.Sprintf("the proxy holds %d endpoints, %d expected", got, done)
	}
	return out, nil
}

// establish sends one request to each of the paths prefix+i for i in
// [from, to) from callers at once, so that each makes its endpoint
// establish a context, and counts the successes and failures. The
// returned count includes every endpoint reached before this call.
func establish(ctx context.Context, client *http.Client, prefix string, from, to, callers int) (ok, errs int, first string) {
	var next atomic.Int64
	next.Store(int64(from))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range max(callers, 1) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(to); i = next.Add(1) - 1 {
				err := bench.Send(ctx, client, appRequest(fmt.Sprintf("%s%d", prefix, i), false, 1<<10))
				mu.Lock()
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return from + ok, errs, first
}
