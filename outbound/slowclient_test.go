package outbound_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
)

// TestSlowClientsAreCutOff opens 100 connections that send their headers
// a byte at a time and 100 that send a body a few bytes at a time, never
// finishing, against a proxy whose listener timeouts are shortened (the
// header timeout to 1 s, the request timeout to 2 s). Every slow
// connection is cut off by its timeout and not before (a slow header gets
// net/http's 400, a slow body scproxy's fault), nothing of theirs reaches
// the upstream, and normal requests sent meanwhile succeed. Their latency
// against the latency before, and how late after its timeout a slow
// client is cut off, are budgets (testkit.Budget).
func TestSlowClientsAreCutOff(t *testing.T) {
	const (
		headerTimeout  = time.Second
		requestTimeout = 2 * time.Second
		perKind        = 100
		normal         = 40
	)
	restore := outbound.SetListenerTimeouts(headerTimeout, requestTimeout)
	defer restore()
	up := newUpstream(t, scserver.Config{})
	c := newCanary(t)
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), Logger: c.logger()})
	app := newApp(t)
	latency := func(tag string) time.Duration {
		var ds []time.Duration
		for i := range normal {
			start := time.Now()
			r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload(fmt.Sprintf("%s-%d", tag, i))))
			ds = append(ds, time.Since(start))
			wantEcho(t, r, soap.V11, fmt.Sprintf("%s-%d", tag, i), false)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	before := latency("before")
	forwardedBefore := up.count()

	addr := strings.TrimPrefix(px.base, "http://")
	body := envelope(soap.V11, "", echoPayload("slow"))
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"%s\"\r\nContent-Length: %d\r\n\r\n", echoAction, len(body))
	results := make([]slowResult, 2*perKind)
	var wg sync.WaitGroup
	for i := range 2 * perKind {
		slowHeader := i < perKind
		wg.Go(func() {
			if slowHeader {
				results[i] = trickle(addr, "", head, 1)
			} else {
				results[i] = trickle(addr, head, body, 4)
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // every slow client is connected and sending
	during := latency("during")
	wg.Wait()

	latest := map[string]time.Duration{}
	for i, r := range results {
		kind, limit := "slow header", headerTimeout
		if i >= perKind {
			kind, limit = "slow body", requestTimeout
		}
		latest[kind] = max(latest[kind], r.took-limit)
		switch {
		case r.err != nil:
			t.Errorf("%s client %d: %v", kind, i, r.err)
		case r.took < limit-100*time.Millisecond:
			t.Errorf("%s client %d cut off after %v, before its %v timeout", kind, i, r.took, limit)
		case i >= perKind && (r.status != http.StatusBadRequest || !strings.Contains(r.body, "reading the request body")):
			t.Errorf("slow body client %d got HTTP %d %q, want scproxy's 400 fault about the body", i, r.status, r.body)
		case i < perKind && r.status != 0 && r.status != http.StatusBadRequest:
			t.Errorf("slow header client %d got HTTP %d, want net/http's 400 or the connection closed", i, r.status)
		}
		c.show(r.status, nil, []byte(r.body))
	}
	if n := up.count() - forwardedBefore; n != normal {
		t.Errorf("the upstream received %d requests while %d normal ones were sent: slow clients got through", n, normal)
	}
	t.Logf("median latency of a normal request: %v before, %v with %d slow-header and %d slow-body clients connected", before, during, perKind, perKind)
	testkit.Budget(t, "median latency of a normal request with slow clients connected", during, max(before, 5*time.Millisecond))
	for _, kind := range []string{"slow header", "slow body"} {
		testkit.Budget(t, "latest cut-off of a "+kind+" client beyond its timeout", latest[kind], 250*time.Millisecond)
	}
}

// slowResult is how a slow client's connection ended.
type slowResult struct {
	took   time.Duration // from connecting to the end of the connection
	status int           // 0 when the connection was closed without an answer
	body   string
	err    error
}

// trickle connects, writes prefix at once, then rest n bytes every 100 ms
// (stopping one byte short of the end), and waits for the server to
// answer or hang up.
func trickle(addr, prefix, rest string, n int) slowResult {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return slowResult{err: err}
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(start.Add(10 * time.Second))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := io.WriteString(conn, prefix); err != nil {
			return
		}
		for i := 0; i+n < len(rest); i += n {
			if _, err := io.WriteString(conn, rest[i:i+n]); err != nil {
				return // the server hung up
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	conn.Close()
	<-done
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return slowResult{took: took, err: fmt.Errorf("still connected after %v", took)}
		}
		return slowResult{took: took} // closed without an answer
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return slowResult{took: took, status: resp.StatusCode, body: string(b)}
}
