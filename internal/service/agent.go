package service

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Agent is scproxy running as a service: it tells the service manager
// it runs under when the agent is ready, alive and stopping.
type Agent struct {
	// Name is the service's name (the Windows service's).
	Name string
	// Getenv reads the environment the manager set; nil: an empty one.
	Getenv func(string) string
	// PID is this process's id, which WATCHDOG_PID must name; 0: os.Getpid.
	PID    int
	Logger *slog.Logger
	// Healthy is asked before each watchdog ping; nil: the agent is
	// healthy while it runs.
	Healthy func(context.Context) error
}

// ServeFunc serves until ctx ends, calling ready (once) as soon as the
// listener is bound, with its address.
type ServeFunc func(ctx context.Context, ready func(addr string)) error

// notifyTimeout bounds one notification to the manager, a local datagram.
const notifyTimeout = time.Second

// runNotify runs serve under systemd's notification protocol; outside
// systemd (no NOTIFY_SOCKET) it only runs serve. The watchdog is fed
// from the moment the agent is ready; STOPPING=1 is sent when ctx ends
// (or serve returns), before serve's shutdown completes.
func (a Agent) runNotify(ctx context.Context, serve ServeFunc) error {
	getenv := a.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	pid := a.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	n, err := NewNotifier(getenv, pid)
	if err != nil {
		return err
	}
	if !n.Enabled() {
		return serve(ctx, func(string) {})
	}
	log := a.logger()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	send := func(what string, f func(context.Context) error) {
		sctx, done := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
		defer done()
		if err := f(sctx); err != nil {
			log.Warn("telling the service manager "+what+" failed", "err", err)
		}
	}
	var once sync.Once
	ready := func(addr string) {
		once.Do(func() {
			send("ready", func(c context.Context) error { return n.Ready(c, "listening on "+addr) })
			wg.Go(func() { n.Watchdog(ctx, a.Healthy, log) })
		})
	}
	wg.Go(func() {
		<-ctx.Done()
		send("stopping", n.Stopping)
	})
	return serve(ctx, ready)
}

func (a Agent) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
