package outbound_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
)

// TestAccessLogAndLastFailure (what a newcomer hit): every request gets
// one log line at the configured level, naming method, path, endpoint and
// status and never a body or the password; a request the service fails
// while the context is fine shows in the endpoint's status as its last
// failed request, the context staying active; the access log can be
// turned off.
func TestAccessLogAndLastFailure(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	var logs testkit.LogBuffer
	px := startProxy(t, outbound.Config{
		RootCAs: up.pool(), Routes: []outbound.Route{{Prefix: "/", Upstream: up.url(t, "/Echo.svc")}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	app := newApp(t)
	const secretWords = "body-words-never-logged"
	if r := app.post(px.base+"/", soap.V11, "urn:echo", envelope(soap.V11, "", echoPayload(secretWords))); r.status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	if err := up.srv.FailNext(1, http.StatusUnsupportedMediaType); err != nil {
		t.Fatal(err)
	}
	if r := app.post(px.base+"/", soap.V11, "urn:echo", envelope(soap.V11, "", echoPayload(secretWords))); r.status != http.StatusBadGateway {
		t.Fatalf("HTTP %d, want 502: %s", r.status, r.body)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var access []string
	for _, l := range lines {
		if strings.Contains(l, "msg=request ") {
			access = append(access, l)
		}
	}
	if len(access) != 2 || !strings.Contains(access[0], "status=200") || !strings.Contains(access[1], "status=502") ||
		!strings.Contains(access[0], "method=POST") || !strings.Contains(access[0], "endpoint="+up.url(t, "/Echo.svc").String()) {
		t.Errorf("access log lines %q, want one per request with method, endpoint and status", access)
	}
	if strings.Contains(logs.String(), secretWords) || strings.Contains(logs.String(), testPassword) {
		t.Errorf("the log holds a body or the password:\n%s", logs.String())
	}
	st := px.p.Status()
	if len(st.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", st.Endpoints)
	}
	e := st.Endpoints[0]
	if e.State != "active" || !strings.Contains(e.LastUpstreamError, "HTTP 415") || e.LastUpstreamErrorAt.IsZero() || e.LastError != "" {
		t.Errorf("status %+v: want an active context and the last failed request", e)
	}

	var quiet testkit.LogBuffer
	px2 := startProxy(t, outbound.Config{
		RootCAs: up.pool(), Routes: []outbound.Route{{Prefix: "/", Upstream: up.url(t, "/Echo.svc")}}, AccessLog: outbound.AccessLogOff,
		Logger: slog.New(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if r := app.post(px2.base+"/", soap.V11, "urn:echo", envelope(soap.V11, "", echoPayload("x"))); r.status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	if strings.Contains(quiet.String(), "msg=request ") {
		t.Errorf("access log off, yet:\n%s", quiet.String())
	}
}
