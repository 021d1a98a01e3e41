package service

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows/svc"
)

// Run runs serve until ctx ends. Started by the Service Control Manager,
// it reports StartPending, Running once the listener is bound, and
// StopPending when asked to stop or at system shutdown, which end serve's
// context; otherwise (a console) it only runs serve.
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
		st <- svc.Status{State: svc.StartPending}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- serve(ctx, func(string) {
				st <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
			})
		}()
		for {
			select {
			case served = <-done:
				if served != nil {
					return true, 1 // a service-specific failure: recovery restarts it
				}
				return false, 0
			case c := <-req:
				switch c.Cmd {
				case svc.Interrogate:
					st <- c.CurrentStatus
				case svc.Stop, svc.Shutdown:
					st <- svc.Status{State: svc.StopPending}
					cancel()
				}
			}
		}
	})
	if err := svc.Run(a.Name, h); err != nil {
		return fmt.Errorf("running as Windows service %s: %w", a.Name, err)
	}
	return served
}

// handler is a function as an svc.Handler.
type handler func([]string, <-chan svc.ChangeRequest, chan<- svc.Status) (bool, uint32)

func (h handler) Execute(args []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	return h(args, r, s)
}
