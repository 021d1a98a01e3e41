package outbound_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
)

// TestJunkPathsHarness replays the long-path form of the junk-path attack
// (1,030 distinct paths of 60 KB under one route) and logs what it cost:
// Issues sent, goroutines, heap, the status document and the log. A
// harness, run with SCPROXY_HARNESS=1; TestJunkPathsMakeNoEndpoints is
// the assertion in the default run.
func TestJunkPathsHarness(t *testing.T) {
	if os.Getenv("SCPROXY_HARNESS") == "" {
		t.Skip("a harness: SCPROXY_HARNESS=1 runs it")
	}
	up := newUpstream(t, scserver.Config{})
	var logged atomic.Int64
	px := startProxy(t, outbound.Config{
		Routes:  []outbound.Route{{Prefix: "/a", Upstream: up.url(t, "/A.svc")}},
		RootCAs: up.pool(),
		Logger:  slog.New(slog.NewTextHandler(countingWriter{&logged}, nil)),
	})
	g0, h0 := runtime.NumGoroutine(), heapInUse()
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	paths := make(chan string)
	for range 8 {
		wg.Go(func() {
			client := &http.Client{}
			defer client.CloseIdleConnections()
			for p := range paths {
				req, err := newRequest(http.MethodPost, px.base+p, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("junk")))
				if err != nil {
					t.Error(err)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	pad := strings.Repeat("x", 60<<10)
	for i := range junkPaths {
		paths <- fmt.Sprintf("/a/%d-%s", i, pad)
	}
	close(paths)
	wg.Wait()
	g1, h1 := runtime.NumGoroutine(), heapInUse()
	doc, _ := json.Marshal(px.p.Status())
	t.Logf("%d paths of 60 KB: answers %v; %d Issues sent; %d endpoints; goroutines %d -> %d; heap %.1f -> %.1f MiB; status document %d bytes; log %d bytes",
		junkPaths, statuses, up.issues(), len(px.p.Endpoints()), g0, g1, mib(h0), mib(h1), len(doc), logged.Load())
}

type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }
