package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/scproxy/scproxy/internal/metrics"
	"github.com/scproxy/scproxy/internal/service"
	"github.com/scproxy/scproxy/outbound"
)

// agentTarget is what the agent serves: a single Proxy (flags) or the
// Front of a configuration file's services.
type agentTarget interface {
	metrics.Source
	Observe(outbound.Observer)
	HandleLocal(path string, h http.Handler)
	Listen() (net.Listener, error)
}

// serveAgent serves p until ctx ends: with its health, readiness and
// metrics on the listener (mountOps), and under the service manager that
// started it, told READY=1 (systemd) or Running (Windows) only once the
// listener is bound, and STOPPING=1 when shutdown begins. serve serves
// the bound listener until ctx ends.
func serveAgent(ctx context.Context, p agentTarget, log *slog.Logger, getenv func(string) string, serve func(context.Context, net.Listener) error) error {
	ops := mountOps(p, time.Now)
	agent := service.Agent{Name: service.DefaultName, Getenv: getenv, Logger: log}
	return agent.Run(ctx, func(ctx context.Context, ready func(string)) error {
		ln, err := p.Listen()
		if err != nil {
			return err
		}
		ops.SetListening(true)
		ready(ln.Addr().String())
		stop := context.AfterFunc(ctx, func() { ops.SetListening(false) })
		defer stop()
		return serve(ctx, ln)
	})
}

// mountOps serves the health and readiness checks and the metrics of p
// on its listener, and has p tell the metrics of every request.
func mountOps(p agentTarget, now func() time.Time) *metrics.Metrics {
	m := metrics.New(p, now)
	p.Observe(m)
	p.HandleLocal(metrics.HealthPath, m.HealthHandler())
	p.HandleLocal(metrics.ReadyPath, m.ReadyHandler())
	p.HandleLocal(metrics.MetricsPath, m.Handler())
	return m
}
