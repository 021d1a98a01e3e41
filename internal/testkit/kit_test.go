package testkit

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestLogBufferConcurrentWriters(t *testing.T) {
	var b LogBuffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				log.Info("line")
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "msg=line\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestUpstreamServesInProcess(t *testing.T) {
	u := Upstream{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, r.Host+r.URL.Path+":"+string(body))
	})}
	resp, err := u.Client().Post("https://svc.example/Echo.svc", "text/xml", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(b) != "svc.example/Echo.svc:hello" || resp.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("HTTP %d %q %v", resp.StatusCode, b, resp.Header)
	}
}

func TestBudgetFailsOnlyInBudgetMode(t *testing.T) {
	for _, mode := range []string{"", "1"} {
		t.Setenv(BudgetEnv, mode)
		ft := &fakeT{}
		Budget(ft, "answer", 5, 1)
		if ft.failed != (mode == "1") {
			t.Errorf("mode %q: failed %v", mode, ft.failed)
		}
		ft = &fakeT{}
		Budget(ft, "answer", 4, 1)
		if ft.failed {
			t.Errorf("mode %q: failed within %d× the goal", mode, BudgetMultiple)
		}
	}
}

// fakeT records whether a budget failed its test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Logf(string, ...any)   {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

func TestRandIsDeterministic(t *testing.T) {
	a, b, c := make([]byte, 100), make([]byte, 100), make([]byte, 100)
	io.ReadFull(Rand("x"), a)
	r := Rand("x")
	io.ReadFull(r, b[:7])
	io.ReadFull(r, b[7:])
	io.ReadFull(Rand("y"), c)
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatalf("streams: %x %x %x", a, b, c)
	}
}
