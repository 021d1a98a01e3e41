package service

import "context"

// Control is a request of a service manager that drives the agent by
// messages (the Windows Service Control Manager).
type Control int

// Controls the agent answers.
const (
	// Interrogate asks for the current state again.
	Interrogate Control = iota
	// Stop asks the agent to stop (a stop request or system shutdown).
	Stop
)

// State is the agent's state as such a manager is told it.
type State int

// States the agent reports.
const (
	StartPending State = iota
	Running
	StopPending
)

// controlLoop runs serve, reporting StartPending at once, Running once
// serve is ready and StopPending when asked to stop, which ends serve's
// context; it returns what serve returns. report is called from one
// goroutine at a time, in order.
func controlLoop(ctx context.Context, serve ServeFunc, reqs <-chan Control, report func(State)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	current := StartPending
	report(current)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once bool
		done <- serve(ctx, func(string) {
			if !once {
				once = true
				close(ready)
			}
		})
	}()
	for {
		select {
		case err := <-done:
			return err
		case <-ready:
			ready = nil // a nil channel: reported once
			if current == StartPending {
				current = Running
				report(current)
			}
		case c := <-reqs:
			switch c {
			case Interrogate:
				report(current)
			case Stop:
				if current != StopPending {
					current = StopPending
					report(current)
					cancel()
				}
			}
		}
	}
}
