package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
)

// Paths of the local endpoints, on the proxy's listener next to
// outbound.StatusPath: the application's own paths (a route may take
// /healthz or /metrics) stay the application's.
const (
	HealthPath  = "/_scproxy/healthz"
	ReadyPath   = "/_scproxy/readyz"
	MetricsPath = "/_scproxy/metrics"
)

// namespace starts every metric's name.
const namespace = "scproxy"

// Source is the proxy as the metrics and the readiness check read it.
type Source interface {
	// EndpointStatus is the state and counters of every endpoint in use.
	EndpointStatus() []session.Status
	// RouteOf is the prefix of the route an endpoint lies under.
	RouteOf(endpoint string) string
	// Routes are the prefixes of every route.
	Routes() []string
}

// Metrics holds the proxy's metrics and serves them. It is the proxy's
// outbound.Observer.
type Metrics struct {
	src Source
	now func() time.Time
	reg *prometheus.Registry

	inFlight prometheus.Gauge
	requests *prometheus.CounterVec   // route, code
	faults   *prometheus.CounterVec   // route, origin, kind
	latency  *prometheus.HistogramVec // route
	failed   *prometheus.CounterVec   // route

	health
}

var _ outbound.Observer = (*Metrics)(nil)

// LatencyBuckets are the upper bounds, in seconds, of the upstream
// latency histogram: SOAP services answer in milliseconds to tens of
// seconds.
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New returns the metrics of src, in a registry of their own with the Go
// runtime's and the process's collectors; now is the clock the contexts'
// age and time to expiry are read with.
func New(src Source, now func() time.Time) *Metrics {
	m := &Metrics{
		src: src, now: now, reg: prometheus.NewRegistry(),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "requests_in_flight",
			Help: "Application requests being served.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Application requests answered, by route and HTTP status.",
		}, []string{"route", "code"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "faults_total",
			Help: "Application requests answered with a fault, by route, origin (ours: scproxy's own; upstream: the service's) and kind.",
		}, []string{"route", "origin", "kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upstream_request_duration_seconds",
			Help:    "Time from sending a message upstream to its answer, by route (resends included).",
			Buckets: LatencyBuckets,
		}, []string{"route"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_failures_total",
			Help: "Upstream calls that got no answer (unreachable, TLS, timeout), by route.",
		}, []string{"route"}),
	}
	m.health.src, m.health.now = src, now
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.inFlight, m.requests, m.faults, m.latency, m.failed,
		endpointCollector{m},
	)
	return m
}

// Registry is the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// RequestStarted counts a request in flight.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone counts an answered request and its fault.
func (m *Metrics) RequestDone(route string, o outbound.Outcome) {
	m.inFlight.Dec()
	m.requests.WithLabelValues(route, strconv.Itoa(o.Status)).Inc()
	if o.Origin != outbound.FaultNone {
		m.faults.WithLabelValues(route, string(o.Origin), o.Kind).Inc()
	}
}

// UpstreamCall records one upstream call's latency, or its failure.
func (m *Metrics) UpstreamCall(route string, d time.Duration, failed bool) {
	if failed {
		m.failed.WithLabelValues(route).Inc()
		return
	}
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// endpointCollector reads the endpoints' own counters at scrape time.
type endpointCollector struct{ m *Metrics }

// endpointMetric is one metric read from an endpoint's status.
type endpointMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(st session.Status, now time.Time) (float64, bool)
}

func counter(name, help string, v func(session.Status) int64) endpointMetric {
	return endpointMetric{
		desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{"route", "endpoint"}, nil),
		kind: prometheus.CounterValue,
		value: func(st session.Status, _ time.Time) (float64, bool) {
			return float64(v(st)), true
		},
	}
}

func gauge(name, help string, v func(session.Status, time.Time) (float64, bool)) endpointMetric {
	return endpointMetric{
		desc:  prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{"route", "endpoint"}, nil),
		kind:  prometheus.GaugeValue,
		value: v,
	}
}

// endpointMetrics are the metrics of each endpoint.
var endpointMetrics = []endpointMetric{
	counter("context_requests_total", "Requests secured with the endpoint's security context.",
		func(st session.Status) int64 { return st.Requests }),
	counter("establishments_total", "Security contexts established (WS-Trust Issue), first ones and re-establishments.",
		func(st session.Status) int64 { return st.Establishes }),
	counter("reestablishments_total", "Security contexts established to replace an earlier one (rejected, forgotten by a recycled service, expired, or not renewable).",
		func(st session.Status) int64 { return max(st.Establishes-1, 0) }),
	counter("renewals_total", "Security contexts renewed (WS-Trust Renew).",
		func(st session.Status) int64 { return st.Renewals }),
	counter("resends_total", "Requests secured again and resent after the service faulted their context.",
		func(st session.Status) int64 { return st.Resends }),
	counter("cancels_total", "Security contexts cancelled (WS-Trust Cancel).",
		func(st session.Status) int64 { return st.Cancels }),
	counter("context_failures_total", "Failed establishments, renewals and cancels.",
		func(st session.Status) int64 { return st.Failures }),
	gauge("context_age_seconds", "Time since the current security context was established.",
		func(st session.Status, now time.Time) (float64, bool) {
			return now.Sub(st.Established).Seconds(), st.Identifier != "" && !st.Established.IsZero()
		}),
	gauge("context_expiry_seconds", "Time until the current security context expires (negative: expired).",
		func(st session.Status, now time.Time) (float64, bool) {
			return st.Expires.Sub(now).Seconds(), st.Identifier != "" && !st.Expires.IsZero()
		}),
	gauge("endpoint_ready", "1 when the endpoint has a usable context or can establish one, 0 while its last establishment failed.",
		func(st session.Status, now time.Time) (float64, bool) {
			if endpointReady(st, now) {
				return 1, true
			}
			return 0, true
		}),
}

func (c endpointCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, em := range endpointMetrics {
		ch <- em.desc
	}
}

func (c endpointCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.m.now()
	for _, st := range c.m.src.EndpointStatus() {
		route := c.m.src.RouteOf(st.Endpoint)
		for _, em := range endpointMetrics {
			if v, ok := em.value(st, now); ok {
				ch <- prometheus.MustNewConstMetric(em.desc, em.kind, v, route, st.Endpoint)
			}
		}
	}
}
