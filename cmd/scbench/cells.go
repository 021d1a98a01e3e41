package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/scproxy/scproxy/internal/bench"
)

// Modes, in the order the tables list them.
const (
	modeDirect    = "direct"
	modePass      = "pass"
	modeSCTLS     = "sc-tls"
	modeSCMessage = "sc-message"
	modeX509      = "x509"
	processAction = "http://tempuri.org/IService/Process"
)

var allModes = []string{modeDirect, modePass, modeSCTLS, modeSCMessage, modeX509}

// mode is one way of reaching the service.
type mode struct {
	name string
	// note says why the mode is not measured; empty when it is.
	note  string
	proxy *child // nil for direct
	// server is the service's process when it is not the rig's main one
	// (sc-message has a server of its own).
	server *child
	client *http.Client
	// url is where the load goes; soap12 says whether it expects the
	// service's own SOAP 1.2 (direct) or a legacy SOAP 1.1 request.
	url    string
	soap12 bool
	// statusMallocs and statusBytes are what reading the proxy's status
	// costs the proxy, subtracted from each cell's allocations.
	statusMallocs, statusBytes uint64
}

// cell is one load setting: a message size and either a number of
// closed-loop clients or an open-loop rate.
type cell struct {
	Size    int     `json:"size"`
	Clients int     `json:"clients,omitempty"`
	Rate    float64 `json:"rate,omitempty"` // messages per second, open loop
}

func (c cell) String() string {
	if c.Rate > 0 {
		return fmt.Sprintf("%s at %g msg/s", sizeName(c.Size), c.Rate)
	}
	return fmt.Sprintf("%s × %d", sizeName(c.Size), c.Clients)
}

func sizeName(n int) string { return fmt.Sprintf("%d KB", n>>10) }

// runRecord is what one mode did in one cell of one round.
type runRecord struct {
	Round      int     `json:"round"`
	Kept       bool    `json:"kept"`
	Mode       string  `json:"mode"`
	Cell       cell    `json:"cell"`
	Messages   int     `json:"messages"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	MsgPerSec  float64 `json:"msg_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	MaxUS      float64 `json:"max_us"`
	// ServerCPUus is the demo server's CPU time per message.
	ServerCPUus float64 `json:"server_cpu_us_per_msg"`
	// Proxy figures are the proxy process's, per message; nil for direct.
	Proxy *proxyFigures `json:"proxy,omitempty"`
}

type proxyFigures struct {
	CPUus  float64 `json:"cpu_us_per_msg"`
	Allocs float64 `json:"allocs_per_msg"`
	Bytes  float64 `json:"bytes_per_msg"`
}

// envelope returns the request of about size bytes: SOAP 1.1 without
// WS-Addressing as a legacy application sends it, or, for direct, SOAP 1.2
// with WS-Addressing 1.0 as the service expects.
func envelope(size int, soap12 bool, to string) []byte {
	var head, tail string
	if soap12 {
		head = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>` +
			`<a:Action s:mustUnderstand="1">` + processAction + `</a:Action><a:MessageID>urn:uuid:6a1e2c8e-0c35-4a4e-9d2f-7bb3f0b4f3a1</a:MessageID>` +
			`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
			`<a:To s:mustUnderstand="1">` + to + `</a:To></s:Header><s:Body>`
	} else {
		head = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`
	}
	head += `<Process xmlns="http://tempuri.org/">`
	tail = `</Process></s:Body></s:Envelope>`
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; b.Len() < size-len(tail)-40; i++ {
		fmt.Fprintf(&b, `<item n="%d">value %d</item>`, i, i)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// request is the load of mode m at size.
func (m *mode) request(size int) bench.Request { return appRequest(m.url, m.soap12, size) }

// appRequest is a request of about size bytes to url, SOAP 1.2 with
// WS-Addressing when soap12, else a legacy SOAP 1.1 one.
func appRequest(url string, soap12 bool, size int) bench.Request {
	h := http.Header{}
	if soap12 {
		h.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+processAction+`"`)
	} else {
		h.Set("Content-Type", "text/xml; charset=utf-8")
		h.Set("SOAPAction", `"`+processAction+`"`)
	}
	return bench.Request{URL: url, Header: h, Body: envelope(size, soap12, url), Want: []byte("ProcessResponse")}
}

// calibrate measures what one status read costs the proxy: the smallest
// difference between back-to-back readings.
func (m *mode) calibrate() error {
	prev, err := status(m.proxy.addr)
	if err != nil {
		return err
	}
	m.statusMallocs, m.statusBytes = ^uint64(0), ^uint64(0)
	for range 5 {
		st, err := status(m.proxy.addr)
		if err != nil {
			return err
		}
		m.statusMallocs = min(m.statusMallocs, st.Runtime.Mallocs-prev.Runtime.Mallocs)
		m.statusBytes = min(m.statusBytes, st.Runtime.TotalAlloc-prev.Runtime.TotalAlloc)
		prev = st
	}
	return nil
}

// reading is the counters read around a cell.
type reading struct {
	serverCPU, proxyCPU time.Duration
	mallocs, bytes      uint64
}

// read takes the counters: the status first (its own cost falls outside
// the CPU readings, and is subtracted from the allocations), then CPU.
func (m *mode) read(server *child, before bool) (reading, error) {
	var r reading
	var err error
	readStatus := func() error {
		if m.proxy == nil {
			return nil
		}
		st, err := status(m.proxy.addr)
		r.mallocs, r.bytes = st.Runtime.Mallocs, st.Runtime.TotalAlloc
		return err
	}
	readCPU := func() error {
		if r.serverCPU, err = bench.CPUTime(server.pid()); err != nil {
			return err
		}
		if m.proxy != nil {
			r.proxyCPU, err = bench.CPUTime(m.proxy.pid())
		}
		return err
	}
	steps := []func() error{readStatus, readCPU}
	if !before {
		steps = []func() error{readCPU, readStatus}
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// measure runs one cell in mode m after a short warm-up (which also
// establishes the proxy's context and opens its connections) and returns
// what it did.
func (m *mode) measure(ctx context.Context, server *child, c cell, o *options) (runRecord, error) {
	req := m.request(c.Size)
	warm := c.Clients
	if c.Rate > 0 {
		warm = 4
	}
	if s := bench.ClosedLoop(ctx, m.client, req, warm, o.warmup); s.Errors > 0 {
		return runRecord{}, fmt.Errorf("%s, %s: warm-up failed: %s", m.name, c, s.FirstError)
	}
	before, err := m.read(server, true)
	if err != nil {
		return runRecord{}, err
	}
	var s bench.Sample
	if c.Rate > 0 {
		s = bench.OpenLoop(ctx, m.client, req, c.Rate, o.duration, 256)
	} else {
		s = bench.ClosedLoop(ctx, m.client, req, c.Clients, o.duration)
	}
	after, err := m.read(server, false)
	if err != nil {
		return runRecord{}, err
	}
	return m.record(c, s, before, after), nil
}

// record turns a sample and the counters around it into a runRecord.
func (m *mode) record(c cell, s bench.Sample, before, after reading) runRecord {
	n := float64(max(s.Messages+s.Errors, 1))
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	r := runRecord{
		Mode: m.name, Cell: c, Messages: s.Messages, Errors: s.Errors, FirstError: s.FirstError,
		Seconds: s.Elapsed.Seconds(), MsgPerSec: s.Rate(),
		P50us: us(bench.Percentile(s.Latencies, 50)), P99us: us(bench.Percentile(s.Latencies, 99)),
		P999us: us(bench.Percentile(s.Latencies, 99.9)), MaxUS: us(bench.Percentile(s.Latencies, 100)),
		ServerCPUus: us(after.serverCPU-before.serverCPU) / n,
	}
	if m.proxy != nil {
		mallocs := float64(after.mallocs-before.mallocs) - float64(m.statusMallocs)
		bytes := float64(after.bytes-before.bytes) - float64(m.statusBytes)
		r.Proxy = &proxyFigures{CPUus: us(after.proxyCPU-before.proxyCPU) / n, Allocs: mallocs / n, Bytes: bytes / n}
	}
	return r
}
