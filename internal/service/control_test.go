package service

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
)

// reports records the states reported, in order.
type reports struct {
	mu     sync.Mutex
	states []State
}

func (r *reports) add(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *reports) get() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states)
}

// TestControlLoop drives the agent as the Windows Service Control Manager
// does: StartPending at once, Running only once the listener is bound,
// the current state on Interrogate, StopPending on Stop, which ends the
// agent's context.
func TestControlLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r reports
		reqs := make(chan Control)
		bind := make(chan struct{})
		stopped := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- controlLoop(context.Background(), func(ctx context.Context, ready func(string)) error {
				<-bind
				ready("127.0.0.1:8090")
				<-ctx.Done()
				close(stopped)
				return nil
			}, reqs, r.add)
		}()
		synctest.Wait()
		reqs <- Interrogate
		synctest.Wait()
		if got := r.get(); !slices.Equal(got, []State{StartPending, StartPending}) {
			t.Fatalf("before the listener is bound: %v", got)
		}
		close(bind)
		synctest.Wait()
		reqs <- Interrogate
		reqs <- Stop
		<-stopped
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []State{StartPending, StartPending, Running, Running, StopPending}
		if got := r.get(); !slices.Equal(got, want) {
			t.Errorf("reported %v, want %v", got, want)
		}
	})
}

// TestControlLoopServeFails: an agent that cannot bind is never Running,
// and its error is returned.
func TestControlLoopServeFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r reports
		errBind := errors.New("listen on 127.0.0.1:8090: address in use")
		err := controlLoop(context.Background(), func(context.Context, func(string)) error { return errBind }, make(chan Control), r.add)
		if !errors.Is(err, errBind) {
			t.Fatalf("got %v", err)
		}
		if got := r.get(); !slices.Equal(got, []State{StartPending}) {
			t.Errorf("reported %v, want only StartPending", got)
		}
	})
}
