package bench

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of unsorted", ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(func() []int {
			var v []int
			for i := 100; i >= 1; i-- {
				v = append(v, i)
			}
			return v
		}()...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(3, 9, 1), 100, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	tests := []struct {
		name      string
		in        []float64
		want      Spread
		variation float64
		json      string
	}{
		{"odd count", []float64{3, 1, 2}, Spread{2, 1, 3}, 1, `{"median":2,"min":1,"max":3}`},
		{"even count averages the middle", []float64{4, 1, 3, 2}, Spread{2.5, 1, 4}, 1.2, `{"median":2.5,"min":1,"max":4}`},
		{"NaN rounds left out", []float64{math.NaN(), 10, 12}, Spread{11, 10, 12}, 2.0 / 11, `{"median":11,"min":10,"max":12}`},
		{"nothing", []float64{math.NaN()}, Spread{math.NaN(), math.NaN(), math.NaN()}, math.NaN(), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SpreadOf(tt.in)
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-12 }
			if !same(got.Median, tt.want.Median) || !same(got.Min, tt.want.Min) || !same(got.Max, tt.want.Max) {
				t.Errorf("SpreadOf = %+v, want %+v", got, tt.want)
			}
			if v := got.Variation(); !same(v, tt.variation) {
				t.Errorf("Variation = %v, want %v", v, tt.variation)
			}
			b, err := json.Marshal(got)
			if err != nil || string(b) != tt.json {
				t.Errorf("JSON %s (%v), want %s", b, err, tt.json)
			}
		})
	}
}

// TestOpenLoopCountsTheQueue: a stall of the server delays the messages
// scheduled during it, and the open loop charges them the wait (latency
// from the scheduled send time); the closed loop, which waits for each
// answer before sending, shows only the stalled message as slow.
func TestOpenLoopCountsTheQueue(t *testing.T) {
	const stall = 300 * time.Millisecond
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.Sleep(stall)
		}
		w.Write([]byte("<ProcessResponse/>"))
	}))
	defer srv.Close()
	req := Request{URL: srv.URL, Header: http.Header{}, Body: []byte("<Process/>"), Want: []byte("ProcessResponse")}
	slow := func(s Sample, over time.Duration) int {
		n := 0
		for _, l := range s.Latencies {
			if l >= over {
				n++
			}
		}
		return n
	}
	// Messages are due every 10 ms: the 20 due in the stall's first
	// 200 ms wait at least 100 ms for the one caller.
	open := OpenLoop(context.Background(), srv.Client(), req, 100, 500*time.Millisecond, 1)
	if open.Messages != 50 || open.Errors != 0 {
		t.Fatalf("open loop: %d messages, %d errors (%s); want 50 and none", open.Messages, open.Errors, open.FirstError)
	}
	if n := slow(open, 100*time.Millisecond); n < 15 {
		t.Errorf("open loop: %d messages slower than 100 ms, want the stalled one and the ones due during the stall", n)
	}
	calls.Store(0)
	closed := ClosedLoop(context.Background(), srv.Client(), req, 1, 500*time.Millisecond)
	// One more slow message is allowed for a busy machine's hiccup.
	if n := slow(closed, 100*time.Millisecond); n < 1 || n > 2 || closed.Messages < 10 {
		t.Errorf("closed loop: %d of %d messages slower than 100 ms, want the stalled one", n, closed.Messages)
	}
}

// TestLoadCountsFailures: an answer without the wanted text, or not 200,
// is an error with its status, never a latency.
func TestLoadCountsFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"fault", http.StatusInternalServerError, "<Fault/>", "HTTP 500"},
		{"wrong answer", http.StatusOK, "<Other/>", "HTTP 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			req := Request{URL: srv.URL, Header: http.Header{}, Want: []byte("ProcessResponse")}
			s := ClosedLoop(context.Background(), srv.Client(), req, 2, 50*time.Millisecond)
			if s.Messages != 0 || s.Errors == 0 || len(s.Latencies) != 0 || !strings.Contains(s.FirstError, tt.want) {
				t.Errorf("%d messages, %d errors (%q), %d latencies; want only errors mentioning %q", s.Messages, s.Errors, s.FirstError, len(s.Latencies), tt.want)
			}
		})
	}
}

// TestCPUTime: the CPU time of this process grows by what getrusage
// says it used (an independent count, in clock ticks), and an absent
// process is an error.
func TestCPUTime(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Skipf("no /proc schedstat here: %v", err)
	}
	r0 := rusage(t)
	for x := 0; rusage(t)-r0 < 200*time.Millisecond; x++ {
	}
	used := rusage(t) - r0
	after, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < used/2 || d > 2*used+100*time.Millisecond {
		t.Errorf("CPU time grew by %v while getrusage counted %v", d, used)
	}
	if _, err := CPUTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// rusage is this process's user and system time from getrusage.
func rusage(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
