package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/scproxy/scproxy/internal/metrics"
	"github.com/scproxy/scproxy/internal/service"
	"github.com/scproxy/scproxy/outbound"
)

// serveAgent serves p until ctx ends: with its health, readiness and
// metrics on the listener (mountOps), and under the service manager that
// started it, told READY=1 (systemd) or Running (Windows) only once the
// listener is bound, and STOPPING=1 when shutdown begins.
func serveAgent(ctx context.Context, p *outbound.Proxy, log *slog.Logger, getenv func(string) string) error {
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
		return p.Serve(ctx, ln)
	})
}

// mountOps serves the health and readiness checks and the metrics of p
// on its listener, and has p tell the metrics of every request.
func mountOps(p *outbound.Proxy, now func() time.Time) *metrics.Metrics {
	m := metrics.New(p, now)
	p.Observe(m)
	p.HandleLocal(metrics.HealthPath, m.HealthHandler())
	p.HandleLocal(metrics.ReadyPath, m.ReadyHandler())
	p.HandleLocal(metrics.MetricsPath, m.Handler())
	return m
}
