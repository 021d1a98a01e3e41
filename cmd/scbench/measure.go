package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// passwordEnv carries the bench user's password to the proxies.
const passwordEnv = "SCBENCH_PASSWORD"

// cells returns the run's cells: closed loop for every size and client
// count, then open loop at each rate with the smallest size.
func (o *options) cells() []cell {
	var out []cell
	for _, s := range o.sizes {
		for _, c := range o.clients {
			out = append(out, cell{Size: s, Clients: c})
		}
	}
	for _, r := range o.rates {
		out = append(out, cell{Size: o.sizes[0], Rate: r})
	}
	return out
}

// rig is what a run measures: the service and one mode per way of
// reaching it.
type rig struct {
	server *child
	// msgServer is the demo server of the message-security profile
	// (sc-message), nil until that mode starts.
	msgServer *child
	svc       *url.URL
	roots     *x509.CertPool
	password  string
	pki       *pki
	modes     []*mode
	// issuesTokens: the demo server runs its token service too.
	issuesTokens bool
}

func (g *rig) stop() {
	for _, m := range g.modes {
		m.proxy.stop()
	}
	g.msgServer.stop()
	g.server.stop()
}

// measured returns the modes that run.
func (g *rig) measured() []*mode {
	return slices.DeleteFunc(slices.Clone(g.modes), func(m *mode) bool { return m.note != "" })
}

// setUp builds scproxy if needed, makes the certificates, and starts the
// service and the proxies.
func setUp(ctx context.Context, o *options, dir string) (*rig, error) {
	bin := o.scproxy
	if bin == "" {
		var err error
		if bin, err = buildScproxy(ctx, dir); err != nil {
			return nil, err
		}
	}
	p, err := makePKI(dir)
	if err != nil {
		return nil, err
	}
	g := &rig{password: randomPassword(), pki: p}
	g.issuesTokens = strings.Contains(commandHelp(bin, "demo-server"), "--issue-tokens")
	var caFile string
	if g.server, caFile, err = startServer(bin, g.password, p.caFile, g.issuesTokens); err != nil {
		return nil, err
	}
	if g.svc, err = url.Parse(g.server.url + "Echo.svc"); err != nil {
		g.stop()
		return nil, err
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		g.stop()
		return nil, err
	}
	g.roots = x509.NewCertPool()
	g.roots.AppendCertsFromPEM(pemBytes)
	if err := g.startModes(bin, caFile, o); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// startModes starts a proxy per proxied mode.
func (g *rig) startModes(bin, caFile string, o *options) error {
	want := strings.Split(o.modes, ",")
	help := commandHelp(bin, "run")
	base := proxyFlags(g.svc.String(), caFile)
	creds := []string{"--username", "bench", "--password-env", passwordEnv}
	env := []string{passwordEnv + "=" + g.password}
	for _, name := range allModes {
		if !slices.Contains(want, name) {
			continue
		}
		m := &mode{name: name}
		g.modes = append(g.modes, m)
		var args []string
		switch name {
		case modeDirect:
			m.url, m.soap12 = g.svc.String(), true
			m.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
				Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: g.roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 128,
			}}
			continue
		case modeSCMessage:
			if !strings.Contains(help, "--server-cert") {
				m.note = "not measured: this scproxy has no message-security profile"
				continue
			}
			var err error
			if args, err = g.messageProxyFlags(bin, creds); err != nil {
				return err
			}
			m.server = g.msgServer
		case modePass:
			args = append(slices.Clone(base), "--security", "none")
		case modeSCTLS:
			args = append(slices.Concat(base, creds), "--security", "context", "--profile", "sc-tls")
		case modeX509:
			if !strings.Contains(help, "--cert-file") {
				m.note = "not measured: this scproxy has no --cert-file for the x509 profile's certificate"
				continue
			}
			args = append(slices.Clone(base), "--security", "context", "--profile", "x509", "--cert-file", g.pki.certFile, "--key-file", g.pki.keyFile)
		}
		var err error
		if m.proxy, err = startProxy(name, bin, args, env); err != nil {
			return err
		}
		m.url = "http://" + m.proxy.addr + "/"
		m.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 128, DisableCompression: true}}
		if err := m.calibrate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// messageProxyFlags starts the message profile's demo server and returns
// the flags of a proxy in front of it, establishing with the bench user
// under the username binding, its other settings WCF's defaults.
func (g *rig) messageProxyFlags(bin string, creds []string) ([]string, error) {
	var caFile, certFile string
	var err error
	if g.msgServer, caFile, certFile, err = startMessageServer(bin, g.password); err != nil {
		return nil, err
	}
	return slices.Concat(proxyFlags(g.msgServer.url+"Echo.svc", caFile), creds,
		[]string{"--security", "context", "--profile", "message", "--message-bootstrap", "username", "--server-cert", certFile}), nil
}

// measure runs the whole harness.
func measure(ctx context.Context, o *options, log io.Writer) (*report, error) {
	began := time.Now()
	dir, err := os.MkdirTemp("", "scbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	g, err := setUp(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	r := &report{Started: began, Machine: machineInfo(), Seed: o.seed, Rounds: o.rounds, Duration: o.duration.String()}
	var names []string
	for _, m := range g.modes {
		r.Modes = append(r.Modes, modeInfo{Name: m.name, Note: m.note})
		if m.note == "" {
			names = append(names, m.name)
		}
	}
	if r.Runs, err = g.rounds(ctx, o, log); err != nil {
		return nil, err
	}
	r.Cells = summarise(r.Runs, o.cells(), names)
	fmt.Fprintln(log, "scbench: establishment times")
	r.Establishment = measureEstablishment(ctx, g.svc, g.roots, bootstraps(g), o.estSamples)
	if !o.skipMemory {
		fmt.Fprintln(log, "scbench: memory per context")
		if r.Memory, err = measureMemory(ctx, g.svc, g.roots, g.password, o.endpoints); err != nil {
			return nil, err
		}
	}
	r.Targets = targets(r.Cells, r.Establishment, r.Memory, o.sizes)
	r.Baseline.Cell, r.Baseline.Variation = baselineVariation(r.Cells)
	if r.Baseline.Variation > maxBaselineVariation {
		r.Refused = fmt.Sprintf("direct's throughput at %s varies by %.0f%% across the kept rounds (more than %.0f%%): the machine was too busy for the ratios to be trusted",
			r.Baseline.Cell, 100*r.Baseline.Variation, 100*maxBaselineVariation)
	}
	r.Machine.LoadAfter = loadAverage()
	r.Seconds = time.Since(began).Seconds()
	return r, nil
}

// rounds runs every cell in every round, the measured modes in a random
// order per cell, and returns every run (the first round's marked not
// kept).
func (g *rig) rounds(ctx context.Context, o *options, log io.Writer) ([]runRecord, error) {
	rnd := rand.New(rand.NewPCG(o.seed, 0x5cbe))
	modes := g.measured()
	var runs []runRecord
	for round := 1; round <= o.rounds; round++ {
		began := time.Now()
		for _, c := range o.cells() {
			rnd.Shuffle(len(modes), func(i, j int) { modes[i], modes[j] = modes[j], modes[i] })
			for _, m := range modes {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				rec, err := m.measure(ctx, cmp.Or(m.server, g.server), c, o)
				if err != nil {
					return nil, err
				}
				rec.Round, rec.Kept = round, round > 1
				runs = append(runs, rec)
			}
		}
		fmt.Fprintf(log, "scbench: round %d of %d done in %.0f s\n", round, o.rounds, time.Since(began).Seconds())
	}
	return runs, nil
}
