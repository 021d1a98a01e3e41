package outbound_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/metrics"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
)

// metricsProxy is a proxy serving its health, readiness and metrics on
// its listener, as `scproxy run` does.
type metricsProxy struct {
	p    *outbound.Proxy
	m    *metrics.Metrics
	base string
}

func serveWithMetrics(t *testing.T, cfg outbound.Config) *metricsProxy {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Bootstrap == nil {
		cfg.Bootstrap = session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	}
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p, time.Now)
	p.Observe(m)
	p.HandleLocal(metrics.HealthPath, m.HealthHandler())
	p.HandleLocal(metrics.ReadyPath, m.ReadyHandler())
	p.HandleLocal(metrics.MetricsPath, m.Handler())
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	m.SetListening(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &metricsProxy{p: p, m: m, base: "http://" + ln.Addr().String()}
}

// get fetches a local path of the proxy.
func (mp *metricsProxy) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(mp.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics as Prometheus does, returning the text and the
// parsed families.
func (mp *metricsProxy) scrape(t *testing.T) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, text := mp.get(t, metrics.MetricsPath)
	if code != http.StatusOK {
		t.Fatalf("%s: HTTP %d", metrics.MetricsPath, code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return text, fams
}

// value is the value of the metric of family name whose labels include
// labels (name=value pairs); ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// wantValue checks one metric.
func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: absent", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

const serviceFault = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>order 7 does not exist</faultstring></s:Fault></s:Body></s:Envelope>`

// TestMetricsMove scrapes /metrics as requests, renewals, a recycle,
// faults of both origins and a request in flight happen, against the
// built-in server, and checks that no secret or message content shows.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{Script: scserver.Script{RenewAfterMessages: 3}})
	hold, arrived := make(chan struct{}), make(chan struct{})
	var once sync.Once
	up.intercept = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		switch {
		case strings.Contains(string(body), "hold-me"):
			once.Do(func() { close(arrived) })
			<-hold
		case strings.Contains(string(body), "no-such-order"):
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(serviceFault))
			return true
		}
		return false
	}
	mp := serveWithMetrics(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	url := mp.base + "/"
	echo := func(word string) reply {
		return app.post(url, soap.V11, echoAction, strings.Replace(soap11Req, "hello", word, 1))
	}

	for i := range 5 { // the fourth meets RenewNeeded: one renewal, one resend
		if r := echo("secret-payload-" + string(rune('a'+i))); r.status != http.StatusOK {
			t.Fatalf("echo %d: %d %s", i, r.status, r.body)
		}
	}
	_, fams := mp.scrape(t)
	route := []string{"route", "/"}
	wantValue(t, fams, 5, "scproxy_requests_total", "route", "/", "code", "200")
	wantValue(t, fams, 5, "scproxy_context_requests_total", route...)
	wantValue(t, fams, 1, "scproxy_establishments_total", route...)
	wantValue(t, fams, 0, "scproxy_reestablishments_total", route...)
	wantValue(t, fams, 1, "scproxy_renewals_total", route...)
	wantValue(t, fams, 1, "scproxy_resends_total", route...)
	wantValue(t, fams, 6, "scproxy_upstream_request_duration_seconds", route...) // 5 and the resend
	wantValue(t, fams, 1, "scproxy_endpoint_ready", route...)
	if age, ok := value(fams, "scproxy_context_age_seconds", route...); !ok || age < 0 || age > 60 {
		t.Errorf("context age %v (present %v), want a few seconds", age, ok)
	}
	if ttl, ok := value(fams, "scproxy_context_expiry_seconds", route...); !ok || ttl <= 60 {
		t.Errorf("context time to expiry %v (present %v), want the context's lifetime", ttl, ok)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: the runtime and process collectors are registered", name)
		}
	}

	// A recycle: the service forgets its contexts; the next request is
	// resent on a new one.
	if up.srv.ForgetAll() != 1 {
		t.Fatal("the service held no context to forget")
	}
	if r := echo("after-recycle"); r.status != http.StatusOK {
		t.Fatalf("after the recycle: %d %s", r.status, r.body)
	}
	// A fault of the service's, and one of scproxy's own.
	if r := echo("no-such-order"); r.status != http.StatusInternalServerError {
		t.Fatalf("service fault: %d %s", r.status, r.body)
	}
	if r := app.post(url, soap.V11, echoAction, "<not-soap"); r.status != http.StatusBadRequest {
		t.Fatalf("malformed request: %d %s", r.status, r.body)
	}
	_, fams = mp.scrape(t)
	wantValue(t, fams, 2, "scproxy_establishments_total", route...)
	wantValue(t, fams, 1, "scproxy_reestablishments_total", route...)
	wantValue(t, fams, 2, "scproxy_resends_total", route...)
	wantValue(t, fams, 1, "scproxy_faults_total", "route", "/", "origin", "upstream", "kind", "service")
	wantValue(t, fams, 1, "scproxy_faults_total", "origin", "ours", "kind", "BadRequest")
	wantValue(t, fams, 1, "scproxy_requests_total", "code", "400")
	wantValue(t, fams, 0, "scproxy_requests_in_flight")

	// A request held by the service is in flight.
	done := make(chan reply, 1)
	go func() { done <- echo("hold-me") }()
	<-arrived
	_, fams = mp.scrape(t)
	wantValue(t, fams, 1, "scproxy_requests_in_flight")
	close(hold)
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("held request: %d %s", r.status, r.body)
	}
	text, fams := mp.scrape(t)
	wantValue(t, fams, 0, "scproxy_requests_in_flight")
	wantValue(t, fams, 7, "scproxy_requests_total", "route", "/", "code", "200")

	// No secret and no message content.
	st := mp.p.EndpointStatus()
	if len(st) != 1 || st[0].Identifier == "" {
		t.Fatalf("status %+v", st)
	}
	for _, secret := range []string{testPassword, testUser + ":", st[0].Identifier, "secret-payload", "hold-me", "order 7", "no-such-order"} {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics show %q", secret)
		}
	}
	// The application's status paths are its own: the checks answer.
	if code, body := mp.get(t, metrics.HealthPath); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
}

// TestReadyzFollowsEstablishment: /readyz is 503 naming the route while
// its endpoint's last establishment failed, and 200 again once one
// succeeds.
func TestReadyzFollowsEstablishment(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	// Backoff windows of a nanosecond: the next request may try again.
	mp := serveWithMetrics(t, outbound.Config{
		Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(),
		Renewal: renewal.Policy{Base: time.Nanosecond, Cap: time.Nanosecond},
	})
	app := newApp(t)
	if code, body := mp.get(t, metrics.ReadyPath); code != http.StatusOK || !strings.Contains(body, `"ready": true`) {
		t.Fatalf("before any request: %d %s", code, body)
	}
	if err := up.srv.FailNext(1, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if r := app.post(mp.base+"/", soap.V11, echoAction, soap11Req); r.status == http.StatusOK {
		t.Fatal("the request succeeded although the Issue failed")
	}
	code, body := mp.get(t, metrics.ReadyPath)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"route": "/"`) || !strings.Contains(body, `"last_error"`) {
		t.Fatalf("after a failed establishment: %d %s, want 503 naming route / and its error", code, body)
	}
	_, fams := mp.scrape(t)
	wantValue(t, fams, 0, "scproxy_endpoint_ready", "route", "/")
	if r := app.post(mp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK {
		t.Fatalf("once the service answers: %d %s", r.status, r.body)
	}
	if code, body := mp.get(t, metrics.ReadyPath); code != http.StatusOK {
		t.Fatalf("after a successful establishment: %d %s", code, body)
	}
	mp.m.SetListening(false)
	if code, _ := mp.get(t, metrics.ReadyPath); code != http.StatusServiceUnavailable {
		t.Errorf("shutting down: readyz %d, want 503", code)
	}
	if code, _ := mp.get(t, metrics.HealthPath); code != http.StatusOK {
		t.Errorf("shutting down: healthz %d, want 200 (the process is up)", code)
	}
}

// TestLocalPathsRefuseOtherMethods: the checks and metrics, like the
// status, are read with GET.
func TestLocalPathsRefuseOtherMethods(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	mp := serveWithMetrics(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	for _, path := range []string{metrics.HealthPath, metrics.ReadyPath, metrics.MetricsPath} {
		resp, err := http.Post(mp.base+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
			t.Errorf("POST %s: %d, Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if up.count() != 0 {
		t.Errorf("a local path reached the upstream (%d requests)", up.count())
	}
}
