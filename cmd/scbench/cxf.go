package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scproxy/scproxy/internal/bench"
	"github.com/scproxy/scproxy/internal/cxfpeer"
)

// The CXF yardstick (--cxf): the same Apache CXF service called by CXF's
// own client in a JVM, and by scbench's client through scproxy, in two
// profiles: SC over TLS (username bootstrap, WS-SC 1.3, SOAP 1.2) and
// message security shaped as WCF's wsHttpBinding default
// (UserNameForCertificate, WS-SC February 2005, sign, encrypt and encrypt
// the signature, derived keys, Basic256, SOAP 1.2). Per profile and
// message size, the CPU per message of the client JVM against that of the
// scproxy process: what a Java application pays to speak WS-SC itself
// against what the agent costs to speak it for any application.

const (
	cxfModeClient = "cxf-client"
	cxfModeProxy  = "scproxy"
	// The profiles, as the report names them.
	cxfProfileTLS     = "sc-tls"
	cxfProfileMessage = "message"
	// cxfEndpoint is the peer's endpoint both modes call in sc-tls.
	cxfEndpoint = "ut/13/soap12"
	// cxfMsgEndpoint is the one in message: the peer's scenario with
	// WCF's defaults (MustNotSendCancel too, which the steady state never
	// meets).
	cxfMsgEndpoint = "/msg/username/2005/sign-encrypt-signature/dk/nocancel/Basic256/soap12"
	// cxfTarget: scproxy at most half the CPU per message of the CXF client.
	cxfTarget = 0.5
)

// cxfRun is one mode in one cell of one round.
type cxfRun struct {
	Round     int     `json:"round"`
	Kept      bool    `json:"kept"`
	Profile   string  `json:"profile"`
	Mode      string  `json:"mode"`
	Size      int     `json:"size"`
	Messages  int     `json:"messages"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
	MsgPerSec float64 `json:"msg_per_sec"`
	// CPUus is the client JVM's or the proxy's CPU per message;
	// ServerCPUus the service JVM's.
	CPUus       float64 `json:"cpu_us_per_msg"`
	ServerCPUus float64 `json:"server_cpu_us_per_msg"`
}

// cxfRow is one profile's and size's summary over the kept rounds.
type cxfRow struct {
	Profile      string       `json:"profile"`
	Size         int          `json:"size"`
	ClientCPUus  float64      `json:"cxf_client_cpu_us_per_msg"` // medians
	ProxyCPUus   float64      `json:"scproxy_cpu_us_per_msg"`
	ClientRate   float64      `json:"cxf_client_msg_per_sec"`
	ProxyRate    float64      `json:"scproxy_msg_per_sec"`
	ServerClient float64      `json:"server_cpu_us_cxf_client"`
	ServerProxy  float64      `json:"server_cpu_us_scproxy"`
	Ratio        bench.Spread `json:"ratio"` // scproxy / CXF client, per round
	Met          bool         `json:"met"`
}

// cxfReport is the yardstick's result.
type cxfReport struct {
	Command  string   `json:"command"`
	Machine  machine  `json:"machine"`
	JVMFlags []string `json:"jvm_flags"`
	Rounds   int      `json:"rounds"`
	Duration string   `json:"duration"`
	Runs     []cxfRun `json:"runs"`
	Rows     []cxfRow `json:"rows"`
	Seconds  float64  `json:"seconds"`
}

// processCPU is the CPU time a process has used, its exited threads
// included (utime + stime of /proc/PID/stat, in clock ticks of 10 ms):
// a JVM starts and ends threads of its own, which per-thread counters
// would lose.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// cxfSide is one profile's pair of callers of the same endpoint: CXF's
// client and scproxy.
type cxfSide struct {
	profile string
	// clientPID is the CXF client's JVM; runClient runs its closed loop
	// of one caller.
	clientPID int
	runClient func(size int, d time.Duration) (cxfpeer.RunResult, error)
	proxy     *child
	url       string
}

// cxfRig is the service, the CXF clients and one scproxy per profile in
// front of the service.
type cxfRig struct {
	peer      *cxfpeer.Peer
	client    *cxfpeer.Client
	msgClient *cxfpeer.MsgClient
	sides     []*cxfSide
	http      *http.Client
}

func (g *cxfRig) stop() {
	g.http.CloseIdleConnections()
	for _, s := range g.sides {
		s.proxy.stop()
	}
	if g.client != nil {
		g.client.Stop()
	}
	if g.msgClient != nil {
		g.msgClient.Stop()
	}
	if g.peer != nil {
		g.peer.Stop()
	}
}

func setUpCXF(ctx context.Context, o *options, dir string) (*cxfRig, error) {
	java, mvn, err := cxfpeer.Tools()
	if err != nil {
		return nil, fmt.Errorf("the CXF yardstick needs a JDK and Maven: %w", err)
	}
	bin := o.scproxy
	if bin == "" {
		if bin, err = buildScproxy(ctx, dir); err != nil {
			return nil, err
		}
	}
	pki, err := cxfpeer.NewPKI(dir)
	if err != nil {
		return nil, err
	}
	b, err := cxfpeer.BuildPeer(mvn)
	if err != nil {
		return nil, err
	}
	g := &cxfRig{http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, DisableCompression: true}}}
	if g.peer, err = cxfpeer.Start(java, b, pki, dir, cxfpeer.Options{Lifetime: time.Hour}); err != nil {
		return nil, err
	}
	for _, set := range []func(string, cxfpeer.Build, *cxfpeer.PKI, string, string) error{g.setUpTLS, g.setUpMessage} {
		if err := set(java, b, pki, dir, bin); err != nil {
			g.stop()
			return nil, err
		}
	}
	return g, nil
}

// proxyArgs are the flags of `scproxy run` common to both profiles: the
// upstream, the WS-SC version and the bootstrap user.
func proxyArgs(upstream, caFile, scVersion string) []string {
	return []string{"run", "--listen", "127.0.0.1:0", "--upstream", upstream, "--ca-file", caFile, "--sc-version", scVersion,
		"--username", cxfpeer.User, "--password-env", passwordEnv, "--addressing", "1.0",
		"--log-format", "json", "--log-level", "info", "--access-log", "off"}
}

// addSide starts scproxy with args for profile and adds the side.
func (g *cxfRig) addSide(s *cxfSide, bin string, args []string) error {
	p, err := startProxy(cxfModeProxy+" "+s.profile, bin, args, []string{passwordEnv + "=" + cxfpeer.Password})
	if err != nil {
		return err
	}
	s.proxy, s.url = p, "http://"+p.addr+"/"
	g.sides = append(g.sides, s)
	return nil
}

// setUpTLS starts the SC-over-TLS side: CXF's load client and scproxy
// with the username bootstrap over TLS.
func (g *cxfRig) setUpTLS(java string, b cxfpeer.Build, pki *cxfpeer.PKI, dir, bin string) error {
	svc := g.peer.URL(cxfEndpoint)
	var err error
	if g.client, err = cxfpeer.StartClient(java, b, pki, dir, svc, "13"); err != nil {
		return err
	}
	c := g.client
	s := &cxfSide{profile: cxfProfileTLS, clientPID: c.PID(), runClient: func(size int, d time.Duration) (cxfpeer.RunResult, error) {
		return c.Run(size, 1, d)
	}}
	return g.addSide(s, bin, append(proxyArgs(svc, pki.CAFile, "1.3"), "--bootstrap", "username"))
}

// setUpMessage starts the message-security side: CXF's message client
// and scproxy with --profile message, both on cxfMsgEndpoint.
func (g *cxfRig) setUpMessage(java string, b cxfpeer.Build, pki *cxfpeer.PKI, dir, bin string) error {
	sc, ok := cxfpeer.ParseMsgPath(cxfMsgEndpoint)
	if !ok || !slices.Contains(g.peer.MsgScenarios(), sc) {
		return fmt.Errorf("the CXF peer serves no %s", cxfMsgEndpoint)
	}
	var err error
	if g.msgClient, err = cxfpeer.StartMsgClient(java, b, pki, dir, g.peer.Plain); err != nil {
		return err
	}
	c := g.msgClient
	s := &cxfSide{profile: cxfProfileMessage, clientPID: c.PID(), runClient: func(size int, d time.Duration) (cxfpeer.RunResult, error) {
		return c.Load(sc, size, 1, d)
	}}
	args := append(proxyArgs(g.peer.Plain+sc.Path, pki.CAFile, sc.SCVersion()),
		"--profile", "message", "--message-bootstrap", sc.Bootstrap, "--server-cert", pki.ServerCert,
		"--algorithm-suite", sc.Suite, "--protection-order", sc.Order, "--derived-keys="+strconv.FormatBool(sc.Derived))
	if !sc.Cancel {
		args = append(args, "--no-cancel")
	}
	return g.addSide(s, bin, args)
}

// cxfRequest is what the application sends scproxy: SOAP 1.2 without
// WS-Addressing or WS-Security, the payload the CXF client sends.
func cxfRequest(url string, size int) bench.Request {
	h := http.Header{}
	h.Set("Content-Type", `application/soap+xml; charset=utf-8; action="urn:scproxy:bench/process"`)
	return bench.Request{URL: url, Header: h, Body: []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>` +
		cxfPayload(size) + `</s:Body></s:Envelope>`), Want: []byte("</p:Process>")}
}

// cxfPayload is the Process element of about size bytes both clients send.
func cxfPayload(size int) string {
	var b strings.Builder
	b.WriteString(`<p:Process xmlns:p="urn:scproxy:bench">`)
	const tail = `</p:Process>`
	for i := 0; b.Len() < size-len(tail)-40; i++ {
		fmt.Fprintf(&b, `<p:item n="%d">value %d</p:item>`, i, i)
	}
	b.WriteString(tail)
	return b.String()
}

// measureCXFCell runs one mode of a side at one size: a warm-up, then a
// measured closed loop with one caller.
func (g *cxfRig) measureCXFCell(ctx context.Context, side *cxfSide, mode string, size int, o *options) (cxfRun, error) {
	r := cxfRun{Profile: side.profile, Mode: mode, Size: size}
	var pid int
	var run func(d time.Duration) (int, int, string, time.Duration, error)
	switch mode {
	case cxfModeClient:
		pid = side.clientPID
		run = func(d time.Duration) (int, int, string, time.Duration, error) {
			res, err := side.runClient(size, d)
			return res.Messages, res.Errors, res.FirstError, res.Elapsed, err
		}
	default:
		pid = side.proxy.pid()
		req := cxfRequest(side.url, size)
		run = func(d time.Duration) (int, int, string, time.Duration, error) {
			s := bench.ClosedLoop(ctx, g.http, req, 1, d)
			return s.Messages, s.Errors, s.FirstError, s.Elapsed, nil
		}
	}
	if _, errs, first, _, err := run(o.warmup); err != nil || errs > 0 {
		return r, fmt.Errorf("%s %s, %s: warm-up failed: %v %s", side.profile, mode, sizeName(size), err, first)
	}
	c0, err := processCPU(pid)
	if err != nil {
		return r, err
	}
	s0, err := processCPU(g.peer.PID())
	if err != nil {
		return r, err
	}
	n, errs, first, elapsed, err := run(o.duration)
	if err != nil {
		return r, err
	}
	c1, err := processCPU(pid)
	if err != nil {
		return r, err
	}
	s1, err := processCPU(g.peer.PID())
	if err != nil {
		return r, err
	}
	msgs := float64(max(n+errs, 1))
	r.Messages, r.Errors, r.FirstErr = n, errs, first
	r.MsgPerSec = float64(n) / elapsed.Seconds()
	r.CPUus = float64(c1-c0) / float64(time.Microsecond) / msgs
	r.ServerCPUus = float64(s1-s0) / float64(time.Microsecond) / msgs
	return r, nil
}

// runCXF is the --cxf command: rounds of every size with both modes in a
// random order, the first round discarded.
func runCXF(ctx context.Context, o *options, log io.Writer) (*cxfReport, error) {
	began := time.Now()
	dir, err := os.MkdirTemp("", "scbench-cxf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	g, err := setUpCXF(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	rep := &cxfReport{Machine: machineInfo(), JVMFlags: cxfpeer.JVMFlags, Rounds: o.rounds, Duration: o.duration.String()}
	// The JVMs' JIT compilers (the client's and the service's) need
	// thousands of messages before a JVM runs at its steady cost: the
	// client calls for --jvm-warmup at each size first; scproxy, which has
	// nothing to compile, for a tenth of that.
	for _, size := range o.sizes {
		for _, side := range g.sides {
			for _, m := range []string{cxfModeClient, cxfModeProxy} {
				warm := *o
				warm.warmup = o.jvmWarmup
				if m == cxfModeProxy {
					warm.warmup = o.jvmWarmup / 10
				}
				if _, err := g.measureCXFCell(ctx, side, m, size, &warm); err != nil {
					return nil, err
				}
			}
		}
	}
	fmt.Fprintf(log, "scbench: CXF yardstick warmed up in %.0f s\n", time.Since(began).Seconds())
	rnd := rand.New(rand.NewPCG(o.seed, 0xcf))
	// Every profile's two modes at a size run in one random order.
	type cell struct {
		side *cxfSide
		mode string
	}
	var cells []cell
	for _, side := range g.sides {
		cells = append(cells, cell{side, cxfModeClient}, cell{side, cxfModeProxy})
	}
	for round := 1; round <= o.rounds; round++ {
		for _, size := range o.sizes {
			rnd.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
			for _, c := range cells {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				r, err := g.measureCXFCell(ctx, c.side, c.mode, size, o)
				if err != nil {
					return nil, err
				}
				if r.Errors > 0 {
					return nil, fmt.Errorf("%s %s, %s: %d errors, first: %s", c.side.profile, c.mode, sizeName(size), r.Errors, r.FirstErr)
				}
				r.Round, r.Kept = round, round > 1
				rep.Runs = append(rep.Runs, r)
			}
		}
		fmt.Fprintf(log, "scbench: CXF round %d of %d done\n", round, o.rounds)
	}
	rep.Rows = summariseCXF(rep.Runs, []string{cxfProfileTLS, cxfProfileMessage}, o.sizes)
	rep.Machine.LoadAfter = loadAverage()
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// summariseCXF gives each profile and size its medians over the kept
// rounds and the per-round ratio of scproxy's CPU per message to the CXF
// client's; a profile without runs has no rows.
func summariseCXF(runs []cxfRun, profiles []string, sizes []int) []cxfRow {
	var rows []cxfRow
	for _, profile := range profiles {
		for _, size := range sizes {
			if row, ok := summariseCXFCell(runs, profile, size); ok {
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// summariseCXFCell is summariseCXF for one profile and size; ok is false
// when no kept run has them.
func summariseCXFCell(runs []cxfRun, profile string, size int) (row cxfRow, ok bool) {
	var cc, pc, cr, pr, sc, sp, ratios []float64
	byRound := map[int]map[string]cxfRun{}
	for _, r := range runs {
		if !r.Kept || r.Size != size || r.Profile != profile {
			continue
		}
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]cxfRun{}
		}
		byRound[r.Round][r.Mode] = r
		if r.Mode == cxfModeClient {
			cc, cr, sc = append(cc, r.CPUus), append(cr, r.MsgPerSec), append(sc, r.ServerCPUus)
		} else {
			pc, pr, sp = append(pc, r.CPUus), append(pr, r.MsgPerSec), append(sp, r.ServerCPUus)
		}
	}
	for _, m := range byRound {
		c, okc := m[cxfModeClient]
		p, okp := m[cxfModeProxy]
		if okc && okp && c.CPUus > 0 {
			ratios = append(ratios, p.CPUus/c.CPUus)
		}
	}
	if len(byRound) == 0 {
		return cxfRow{}, false
	}
	med := func(v []float64) float64 { return bench.SpreadOf(v).Median }
	row = cxfRow{Profile: profile, Size: size, ClientCPUus: med(cc), ProxyCPUus: med(pc), ClientRate: med(cr), ProxyRate: med(pr),
		ServerClient: med(sc), ServerProxy: med(sp), Ratio: bench.SpreadOf(ratios)}
	row.Met = len(ratios) > 0 && row.Ratio.Max <= cxfTarget
	return row, true
}

// writeCXFMarkdown prints the yardstick's table.
func writeCXFMarkdown(w io.Writer, r *cxfReport) {
	fmt.Fprintf(w, "CXF yardstick: `%s`; %s (`nproc` %d), %s, %s; load %s before, %s after; JVM flags `%s`; %d rounds of %s per cell, the first discarded; one caller.\n\n",
		r.Command, r.Machine.CPU, r.Machine.CPUs, r.Machine.Go, r.Machine.Kernel, r.Machine.LoadBefore, r.Machine.LoadAfter,
		strings.Join(r.JVMFlags, " "), r.Rounds, r.Duration)
	fmt.Fprintf(w, "Profiles: `%s` calls the service's `%s`; `%s` calls `%s`.\n\n", cxfProfileTLS, cxfEndpoint, cxfProfileMessage, cxfMsgEndpoint)
	fmt.Fprintln(w, "| profile | size | CXF client CPU µs/msg | scproxy CPU µs/msg | scproxy ÷ CXF client (per round) | ≤ 0.5 | CXF client msg/s | scproxy msg/s | service CPU µs/msg (CXF client / scproxy) |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		met := "yes"
		if !row.Met {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.2f (%.2f–%.2f) | %s | %.0f | %.0f | %.0f / %.0f |\n", row.Profile, sizeName(row.Size), row.ClientCPUus, row.ProxyCPUus,
			row.Ratio.Median, row.Ratio.Min, row.Ratio.Max, met, row.ClientRate, row.ProxyRate, row.ServerClient, row.ServerProxy)
	}
}

// runCXFCommand runs the yardstick and prints its table (and JSON).
func runCXFCommand(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) int {
	r, err := runCXF(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scbench:", err)
		return 1
	}
	r.Command = "scbench " + strings.Join(args, " ")
	writeCXFMarkdown(stdout, r)
	if !writeJSON(o.jsonFile, r, stderr) {
		return 1
	}
	return 0
}
