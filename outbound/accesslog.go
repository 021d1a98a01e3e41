package outbound

import (
	"log/slog"
	"time"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
)

// AccessLogOff, as Config.AccessLog, logs no line per request.
const AccessLogOff = slog.Level(1 << 10)

// accessLog logs one line for a request once it is answered: what an
// operator needs to see that calls succeed or fail, never a body, a header
// value or a secret.
func (p *Proxy) accessLog(x *exchange, w *answerWriter, start time.Time) {
	ctx := x.r.Context()
	if p.cfg.AccessLog == AccessLogOff || !p.cfg.Logger.Enabled(ctx, p.cfg.AccessLog) {
		return
	}
	endpoint := "-"
	if x.target != nil {
		endpoint = upstream.Redact(x.target)
	}
	status := w.status
	if status == 0 {
		status = 200 // net/http's default when nothing was written
	}
	p.cfg.Logger.Log(ctx, p.cfg.AccessLog, "request",
		"method", x.r.Method, "path", logPath(x.r), "endpoint", endpoint, "status", status,
		"soap", x.hop.App.SOAP.String(), "ms", p.clock().Sub(start).Milliseconds())
}

// clock is the proxy's clock; the Proxies a Front makes for its listener
// and for what no service takes are built without one and use the wall
// clock.
func (p *Proxy) clock() time.Time {
	if p.now == nil {
		return time.Now()
	}
	return p.now()
}

// noteUpstreamFailure records a request the service failed on its
// endpoint's status (a context endpoint only: the other profiles keep
// none), so that status shows it beside a context that is itself fine.
func (p *Proxy) noteUpstreamFailure(x *exchange, pe *proxyError) {
	if pe.class != soap.Receiver || x.target == nil || p.cfg.Security != SecurityContext || p.cfg.Profile == ProfileX509 {
		return
	}
	if ep, err := p.Endpoint(x.target); err == nil {
		ep.NoteUpstreamFailure(pe.reason)
	}
}
