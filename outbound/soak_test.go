package outbound_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
)

// soakPlan is how long the soak runs and how often the world changes.
type soakPlan struct {
	name                       string
	duration, renew, recycle   time.Duration
	sample                     time.Duration
	clients                    int
	heapSlack                  uint64 // bytes the heap may grow beyond 50%
	goroutineSlack             int
	renewalFloor, renewalBound time.Duration
}

// soakPlans: the shortened soak runs in the test suite; SCPROXY_SOAK=full
// runs the issue's: 64 clients for 10 minutes, contexts renewed every 10
// seconds, the service recycled every minute.
var soakPlans = map[string]soakPlan{
	"short": {name: "short", duration: 20 * time.Second, renew: 2 * time.Second, recycle: 5 * time.Second, sample: 2 * time.Second, clients: 64, heapSlack: 8 << 20, goroutineSlack: 16},
	"full":  {name: "full", duration: 10 * time.Minute, renew: 10 * time.Second, recycle: time.Minute, sample: 30 * time.Second, clients: 64, heapSlack: 8 << 20, goroutineSlack: 16},
}

// soakSample is the process's state at one moment.
type soakSample struct {
	at         time.Duration
	heap       uint64 // HeapInuse after a collection
	goroutines int
	requests   int64
}

// TestSoak runs clients against a proxy in front of the built-in server,
// each sending echo requests one after the other without pause, while
// the proxy renews the context on a short interval and the server drops
// every context (an application pool recycle) on another. Every request
// must succeed; the heap in use after a collection and the goroutine
// count, sampled over time, must stay flat (the last third of the run
// within 50% plus heapSlack, and goroutineSlack, of the first third after
// warm-up), and with every connection closed the proxy runs as many
// goroutines after the load as before it (quietSlack); and the bootstrap
// password appears in no log line. The
// figures are logged. SCPROXY_SOAK=full runs the full-length plan, off
// runs none.
func TestSoak(t *testing.T) {
	mode := os.Getenv("SCPROXY_SOAK")
	switch mode {
	case "off":
		t.Skip("SCPROXY_SOAK=off")
	case "":
		mode = "short"
	}
	plan, ok := soakPlans[mode]
	if !ok {
		t.Fatalf("SCPROXY_SOAK=%q: want short, full or off", mode)
	}
	if testing.Short() && mode == "short" {
		t.Skip("the soak takes 20 seconds")
	}
	up := newQuietUpstream(t)
	logs := &canaryWriter{}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	px := serveProxy(t, outbound.Config{
		Routes:  routes(up.url(t)),
		RootCAs: up.srv.CertPool(),
		Renewal: renewal.Policy{Interval: plan.renew, Floor: plan.renew / 2},
		Logger:  slog.New(slog.NewMultiHandler(slog.NewTextHandler(logs, opts), slog.NewJSONHandler(logs, opts))),
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * plan.clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	var (
		requests, failures atomic.Int64
		failMu             sync.Mutex
		firstFailures      []string
		recycles           int
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
	)
	fail := func(s string) {
		if failures.Add(1) <= 10 {
			failMu.Lock()
			firstFailures = append(firstFailures, s)
			failMu.Unlock()
		}
	}
	// The goroutines of a quiet proxy, before and after the load: with
	// every connection closed, what is left is the proxy's own (renewal
	// loop, listener) and the test's; a leak per request, renewal or
	// recycle shows here one for one.
	quiet := func() int {
		tr.CloseIdleConnections()
		px.p.CloseIdleUpstreams()
		return settledGoroutines()
	}
	if status, body, err := soakPost(client, px.base+"/", soap.V11, "first"); err != nil || status != http.StatusOK {
		t.Fatalf("first request: HTTP %d %v %.300s", status, err, body)
	}
	quietBefore := quiet()
	for c := range plan.clients {
		wg.Go(func() {
			v := soap.Versions[c%2]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("soak-%d-%d", c, i)
				status, body, err := soakPost(client, px.base+"/", v, text)
				requests.Add(1)
				switch {
				case err != nil:
					fail(err.Error())
				case status != http.StatusOK || !strings.Contains(body, "<echo>"+text+"</echo>"):
					fail(fmt.Sprintf("HTTP %d: %.300s", status, body))
				}
			}
		})
	}

	start := time.Now()
	var samples []soakSample
	take := func() {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		s := soakSample{at: time.Since(start).Round(time.Second), heap: ms.HeapInuse, goroutines: runtime.NumGoroutine(), requests: requests.Load()}
		samples = append(samples, s)
		t.Logf("soak %s: t=%-5v heap in use %6.1f MiB, %4d goroutines, %8d requests, %d failed",
			plan.name, s.at, float64(s.heap)/(1<<20), s.goroutines, s.requests, failures.Load())
	}
	sample, recycle := time.NewTicker(plan.sample), time.NewTicker(plan.recycle)
	deadline := time.After(plan.duration)
loop:
	for {
		select {
		case <-sample.C:
			take()
		case <-recycle.C:
			up.srv.ForgetAll()
			recycles++
		case <-deadline:
			break loop
		}
	}
	sample.Stop()
	recycle.Stop()
	take()
	close(stop)
	wg.Wait()
	quietAfter := quiet()

	st := px.p.Status()
	var ep session.Status
	if len(st.Endpoints) == 1 {
		ep = st.Endpoints[0]
	}
	srv := up.srv.Stats()
	t.Logf("soak %s: %v, %d clients: %d requests (%.0f/s), %d failed; %d renewals, %d establishments, %d resends by the proxy; %d recycles; the server issued %d contexts, renewed %d, verified %d messages",
		plan.name, plan.duration, plan.clients, requests.Load(), float64(requests.Load())/plan.duration.Seconds(), failures.Load(),
		ep.Renewals, ep.Establishes, ep.Resends, recycles, srv.Issued, srv.Renewed, srv.Verified)
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed; the first:\n%s", n, requests.Load(), strings.Join(firstFailures, "\n"))
	}
	if min := int64(plan.duration / plan.renew / 2); ep.Renewals < min {
		t.Errorf("%d renewals in %v with a %v interval, want at least %d", ep.Renewals, plan.duration, plan.renew, min)
	}
	if recycles == 0 || ep.Establishes < int64(recycles) {
		t.Errorf("%d establishments after %d recycles: the recycles were not noticed", ep.Establishes, recycles)
	}
	checkFlat(t, plan, samples)
	t.Logf("soak %s: a quiet proxy (connections closed) runs %d goroutines before the load and %d after it", plan.name, quietBefore, quietAfter)
	if quietAfter > quietBefore+quietSlack {
		t.Errorf("goroutines of the quiet proxy grew from %d to %d over %d requests, %d renewals and %d recycles", quietBefore, quietAfter, requests.Load(), ep.Renewals, recycles)
	}
	if err := logs.err(); err != nil {
		t.Error(err)
	}
}

// checkFlat compares the last third of the samples with the first third
// after the first sample (warm-up).
func checkFlat(t *testing.T, plan soakPlan, samples []soakSample) {
	t.Helper()
	if len(samples) < 4 {
		t.Fatalf("%d samples, too few to judge", len(samples))
	}
	s := samples[1:]
	third := max(len(s)/3, 1)
	mean := func(xs []soakSample) (heap uint64, gr int) {
		for _, x := range xs {
			heap += x.heap
			gr += x.goroutines
		}
		return heap / uint64(len(xs)), gr / len(xs)
	}
	h0, g0 := mean(s[:third])
	h1, g1 := mean(s[len(s)-third:])
	t.Logf("soak %s: heap in use %.1f MiB at the start, %.1f MiB at the end; goroutines %d at the start, %d at the end (means of %d samples each)",
		plan.name, float64(h0)/(1<<20), float64(h1)/(1<<20), g0, g1, third)
	if h1 > h0+h0/2+plan.heapSlack {
		t.Errorf("the heap grew from %d to %d bytes", h0, h1)
	}
	// Connections come and go with 64 clients and the recycles: an eighth
	// of the count under load is noise. This catches growth with the load
	// (a goroutine per request); the quiet counts in TestSoak catch a
	// leak per renewal or recycle one for one.
	if g1 > g0+g0/8+plan.goroutineSlack {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
}

// quietSlack is how many more goroutines a quiet proxy may run after the
// soak than before it: connections closing asynchronously.
const quietSlack = 4

// settledGoroutines waits until the goroutine count has stopped falling
// (connections closed just now take a moment to end theirs) and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// soakPost sends one echo request and reads the answer.
func soakPost(client *http.Client, url string, v soap.Version, text string) (int, string, error) {
	req, err := newRequest(http.MethodPost, url, v, echoAction, envelope(v, "", echoPayload(text)))
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// canaryWriter checks log output for the bootstrap password as it is
// written and keeps none of it, so that a long run's memory stays flat.
type canaryWriter struct {
	mu     sync.Mutex
	lines  int
	leaked string
}

func (w *canaryWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines++
	for _, s := range secretForms() {
		if w.leaked == "" && strings.Contains(string(p), s) {
			w.leaked = string(p)
		}
	}
	return len(p), nil
}

func (w *canaryWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.leaked != "":
		return fmt.Errorf("canary: the bootstrap password is in the log:\n%s", w.leaked)
	case w.lines == 0:
		return fmt.Errorf("canary: nothing was logged; the check saw no log output")
	}
	return nil
}
