package service

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows/svc"
)

// Run runs serve until ctx ends. Started by the Service Control Manager,
// it reports StartPending, Running once the listener is bound, and
// StopPending when asked to stop or at system shutdown, which end serve's
// context (controlLoop); otherwise (a console) it only runs serve.
func (a Agent) Run(ctx context.Context, serve ServeFunc) error {
	is, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("asking whether this is a Windows service: %w", err)
	}
	if !is {
		return a.runNotify(ctx, serve)
	}
	var served error
	h := handler(func(_ []string, req <-chan svc.ChangeRequest, st chan<- svc.Status) (bool, uint32) {
		reqs := make(chan Control)
		stop := make(chan struct{})
		defer close(stop)
		send := func(c Control) {
			select {
			case reqs <- c:
			case <-stop:
			}
		}
		go func() {
			for {
				select {
				case <-stop:
					return
				case c := <-req:
					switch c.Cmd {
					case svc.Interrogate:
						send(Interrogate)
					case svc.Stop, svc.Shutdown:
						send(Stop)
					}
				}
			}
		}()
		served = controlLoop(ctx, serve, reqs, func(s State) { st <- scmStatus[s] })
		if served != nil {
			return true, 1 // a service-specific failure: the recovery action restarts it
		}
		return false, 0
	})
	if err := svc.Run(a.Name, h); err != nil {
		return fmt.Errorf("running as Windows service %s: %w", a.Name, err)
	}
	return served
}

// scmStatus is what the Service Control Manager is told of each state.
var scmStatus = map[State]svc.Status{
	StartPending: {State: svc.StartPending},
	Running:      {State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown},
	StopPending:  {State: svc.StopPending},
}

// handler is a function as an svc.Handler.
type handler func([]string, <-chan svc.ChangeRequest, chan<- svc.Status) (bool, uint32)

func (h handler) Execute(args []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	return h(args, r, s)
}
