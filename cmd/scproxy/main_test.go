//go:build unix

// The tests of this file build the scproxy binary once and run it as a
// process against an in-process scserver: what only a process shows
// (signals, exit codes, the streams) is checked here. They need Unix
// signals.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
)

// binary is the scproxy executable TestMain builds.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scproxy-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "scproxy")
	// go test puts its own go first in PATH.
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building scproxy: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	echoAction = "http://tempuri.org/IEchoService/EchoString"
	pwVar      = "SCP_TEST_PW"
)

func echoBody(s string) string {
	return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><EchoString xmlns="http://tempuri.org/"><echo>` +
		s + `</echo></EchoString></s:Body></s:Envelope>`
}

// upstream is a scserver with one user, demo, of a random password.
type upstream struct {
	srv      *scserver.Server
	password string
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	pw := "pw-" + hex.EncodeToString(raw)
	srv, err := scserver.New(scserver.Config{Users: map[string]string{"demo": pw}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &upstream{srv: srv, password: pw}
}

func (u *upstream) setDelay(t *testing.T, d time.Duration) {
	t.Helper()
	if err := u.srv.SetScript(scserver.Script{Delay: d}); err != nil {
		t.Fatal(err)
	}
}

// waitRequests waits until the server has received n HTTP requests in all.
func (u *upstream) waitRequests(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for u.srv.Stats().Requests < n {
		if time.Now().After(deadline) {
			t.Fatalf("the upstream received %d requests, want %d", u.srv.Stats().Requests, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proc is a running scproxy process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr testkit.LogBuffer
	done           chan struct{} // closed when the process has exited
	exitedAt       time.Time     // set before done is closed
	code           int           // exit code, -1 for a signal; set before done is closed
}

// start runs the binary with args and the environment env added to this
// one's (without its SCPROXY_ variables). The process is killed at the
// end of the test if it is still running.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCPROXY_") && !strings.HasPrefix(kv, pwVar+"=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.exitedAt = time.Now()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(t *testing.T, sig os.Signal) time.Time {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	return time.Now()
}

// wait waits up to limit for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		t.Fatalf("the process still runs after %v; stderr:\n%s", limit, p.stderr.String())
		return 0
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// proxy is a scproxy run process in front of an upstream.
type proxy struct {
	*proc
	addr   string
	client *http.Client
}

// startProxy runs `scproxy run` in front of u with a username bootstrap
// and extra flags, and waits until it serves.
func startProxy(t *testing.T, u *upstream, extra ...string) *proxy {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"run", "--listen", addr, "--upstream", u.srv.URL() + "Echo.svc", "--ca-file", u.srv.CAFile(),
		"--username", "demo", "--password-env", pwVar, "--sc-version", "2005-02", "--log-format", "json", "--log-level", "debug"}, extra...)
	p := &proxy{
		proc: start(t, []string{pwVar + "=" + u.password}, args...),
		addr: addr,
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 100},
			Timeout:   time.Minute,
		},
	}
	t.Cleanup(p.client.CloseIdleConnections)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := p.client.Get("http://" + addr + outbound.StatusPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if p.exited() {
			t.Fatalf("scproxy run exited with %d:\n%s", p.code, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("scproxy run does not serve on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// echo sends one EchoString request carrying s and returns the status and body.
func (p *proxy) echo(s string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+"/", strings.NewReader(echoBody(s)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+echoAction+`"`)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// mustEcho sends one request and fails unless it is echoed.
func (p *proxy) mustEcho(t *testing.T, s string) {
	t.Helper()
	code, body, err := p.echo(s)
	if err != nil || code != http.StatusOK || !strings.Contains(body, s) {
		t.Fatalf("echo %q: %d %v %s\nstderr:\n%s", s, code, err, body, p.stderr.String())
	}
}

// result is the outcome of one request.
type result struct {
	code int
	body string
	err  error
}

// echoAll sends n concurrent requests, the i-th carrying "req-i"; the
// channel yields each outcome, by index, once all are done.
func (p *proxy) echoAll(n int) <-chan []result {
	out := make(chan []result, 1)
	go func() {
		res := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				code, body, err := p.echo("req-" + strconv.Itoa(i))
				res[i] = result{code, body, err}
			})
		}
		wg.Wait()
		out <- res
	}()
	return out
}

// checkNoSecret fails if the password shows in anything the process wrote.
func (p *proxy) checkNoSecret(t *testing.T, password string) {
	t.Helper()
	for name, s := range map[string]string{"stdout": p.stdout.String(), "stderr": p.stderr.String()} {
		if strings.Contains(s, password) {
			t.Errorf("the password is on %s", name)
		}
	}
}

// TestSIGTERMDrainsThenCancels: SIGTERM with 64 slow requests in flight
// refuses new connections at once, lets all 64 finish with their echo,
// cancels the one context and exits 0; the debug JSON log never shows the
// password.
func TestSIGTERMDrainsThenCancels(t *testing.T) {
	t.Parallel()
	const (
		n               = 64
		delay           = time.Second
		shutdownTimeout = 10 * time.Second
	)
	u := startUpstream(t)
	p := startProxy(t, u, "--shutdown-timeout", shutdownTimeout.String())
	p.mustEcho(t, "warm-up")
	base := u.srv.Stats().Requests // Issue and the warm-up
	u.setDelay(t, delay)

	began := time.Now()
	results := p.echoAll(n)
	u.waitRequests(t, base+n)
	sent := p.signal(t, syscall.SIGTERM)

	// The listener closes at once, while the requests are still held.
	refused := false
	for time.Since(sent) < delay/2 {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			// A dial that raced the close sits in the kernel's backlog
			// and is reset when the listener closes: refused as well.
			refused = errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
			if !refused {
				t.Errorf("dial after SIGTERM: %v, want connection refused or reset", err)
			}
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	refusedAfter := time.Since(sent)
	if !refused {
		t.Errorf("new connections still accepted %v after SIGTERM", refusedAfter)
	}
	if p.exited() {
		t.Error("the process exited before the requests in flight finished")
	}

	res := <-results
	drained := time.Since(began)
	code := p.wait(t, shutdownTimeout+5*time.Second)
	exitAfter := p.exitedAt.Sub(sent)
	t.Logf("refused %v after SIGTERM; %d requests done %v after they were sent; exit %d %v after SIGTERM",
		refusedAfter.Round(time.Millisecond), n, drained.Round(time.Millisecond), code, exitAfter.Round(time.Millisecond))

	failed := 0
	for i, r := range res {
		if want := "req-" + strconv.Itoa(i); r.err != nil || r.code != http.StatusOK || !strings.Contains(r.body, want) {
			if failed++; failed <= 3 {
				t.Errorf("request %d: %d %v %.200s", i, r.code, r.err, r.body)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests in flight failed", failed, n)
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if exitAfter > shutdownTimeout {
		t.Errorf("exited %v after SIGTERM, beyond --shutdown-timeout %v", exitAfter, shutdownTimeout)
	}
	st := u.srv.Stats()
	if st.Issued != 1 || st.Cancelled != 1 || st.Verified != n+1 {
		t.Errorf("upstream issued %d, cancelled %d, verified %d; want 1, 1, %d", st.Issued, st.Cancelled, st.Verified, n+1)
	}
	p.checkNoSecret(t, u.password)
	if s := p.stdout.String(); s != "" {
		t.Errorf("stdout %q, want nothing (logs go to stderr)", s)
	}
	for line := range strings.Lines(p.stderr.String()) {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}

// TestKeepContextsOnShutdown: with --cancel-on-shutdown=false the context
// outlives the process.
func TestKeepContextsOnShutdown(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	p := startProxy(t, u, "--cancel-on-shutdown=false")
	p.mustEcho(t, "warm-up")
	sent := p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 10*time.Second)
	t.Logf("exit %d %v after SIGTERM", code, p.exitedAt.Sub(sent).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if st := u.srv.Stats(); st.Issued != 1 || st.Cancelled != 0 {
		t.Errorf("upstream issued %d, cancelled %d; want 1, 0", st.Issued, st.Cancelled)
	}
	p.checkNoSecret(t, u.password)
}

// TestSecondSignalExitsAtOnce: a second signal during a shutdown held up
// by stuck requests ends the process at once with code 130, whether it
// comes after a pause or right behind the first (a supervisor's TERM then
// INT, a double Ctrl-C).
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	const n = 8
	tests := []struct {
		name string
		gap  time.Duration // between the two signals
	}{
		{"after a pause", 300 * time.Millisecond},
		{"back to back", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t)
			p := startProxy(t, u, "--shutdown-timeout", "60s")
			p.mustEcho(t, "warm-up")
			base := u.srv.Stats().Requests
			u.setDelay(t, 20*time.Second)
			results := p.echoAll(n)
			u.waitRequests(t, base+n)

			p.signal(t, syscall.SIGTERM)
			if tc.gap > 0 {
				time.Sleep(tc.gap)
				if p.exited() {
					t.Fatalf("the first signal ended the process (code %d) with requests held", p.code)
				}
			}
			second := p.signal(t, syscall.SIGINT)
			code := p.wait(t, 5*time.Second)
			exitAfter := p.exitedAt.Sub(second)
			t.Logf("exit %d %v after the second signal", code, exitAfter.Round(time.Millisecond))
			if code != 130 {
				t.Errorf("exit code %d (%v), want 130", code, p.cmd.ProcessState)
			}
			if exitAfter > 2*time.Second {
				t.Errorf("exited %v after the second signal, want under 2s", exitAfter)
			}
			if !strings.Contains(p.stderr.String(), "second signal") {
				t.Errorf("stderr does not say why it exited:\n%s", p.stderr.String())
			}
			for i, r := range <-results {
				if r.err == nil {
					t.Errorf("request %d was answered %d after the process exited", i, r.code)
				}
			}
			p.checkNoSecret(t, u.password)
		})
	}
}

// TestShutdownTimeout: requests stuck beyond --shutdown-timeout do not
// hold the process: the whole shutdown ends within the timeout, the
// requests still in flight at three quarters of it are answered with a
// 503 fault (the proxy is shutting down), and the context is still
// cancelled. The product exits 1 (the shutdown did not complete) and says
// why on stderr.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	const (
		n               = 8
		shutdownTimeout = time.Second
	)
	u := startUpstream(t)
	p := startProxy(t, u, "--shutdown-timeout", shutdownTimeout.String())
	p.mustEcho(t, "warm-up")
	base := u.srv.Stats().Requests
	u.setDelay(t, 10*time.Second)
	results := p.echoAll(n)
	u.waitRequests(t, base+n)
	u.setDelay(t, 0) // the requests held keep their delay; the Cancel has none

	sent := p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 8*time.Second)
	exitAfter := p.exitedAt.Sub(sent)
	t.Logf("exit %d %v after SIGTERM (--shutdown-timeout %v); last stderr line %q",
		code, exitAfter.Round(time.Millisecond), shutdownTimeout, lastLine(p.stderr.String()))
	if exitAfter < shutdownTimeout*3/4 || exitAfter > shutdownTimeout+time.Second {
		t.Errorf("exited %v after SIGTERM, want between %v and %v", exitAfter, shutdownTimeout*3/4, shutdownTimeout+time.Second)
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1 (shutdown cut short)", code)
	}
	if !strings.Contains(p.stderr.String(), "requests still in flight") {
		t.Errorf("stderr does not say requests were cut off:\n%s", p.stderr.String())
	}
	if st := u.srv.Stats(); st.Cancelled != 1 {
		t.Errorf("upstream cancelled %d contexts, want 1", st.Cancelled)
	}
	for i, r := range <-results {
		if r.err != nil || r.code != http.StatusServiceUnavailable {
			t.Errorf("request %d cut off by the shutdown: HTTP %d (%v), want the 503 fault", i, r.code, r.err)
		}
	}
	p.checkNoSecret(t, u.password)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// statusJSON is the part of `scproxy status --json` the test reads.
type statusJSON struct {
	Security  string `json:"security"`
	Endpoints []struct {
		Endpoint   string `json:"endpoint"`
		State      string `json:"state"`
		Identifier string `json:"identifier"`
		Requests   int64  `json:"requests"`
	} `json:"endpoints"`
}

// runStatus runs `scproxy status args` to its end.
func runStatus(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := start(t, env, append([]string{"status"}, args...)...)
	p.wait(t, 10*time.Second)
	return p
}

// TestStatusCommand: `scproxy status` shows the running proxy's endpoint,
// as a table and as JSON, with the address from the flag or the
// environment.
func TestStatusCommand(t *testing.T) {
	t.Parallel()
	const calls = 5
	u := startUpstream(t)
	p := startProxy(t, u)
	for i := range calls {
		p.mustEcho(t, "call-"+strconv.Itoa(i))
	}
	endpoint := u.srv.URL() + "Echo.svc"
	var id string
	for k := range u.srv.Stats().Contexts {
		id = k
	}
	if !strings.HasPrefix(id, "urn:uuid:") {
		t.Fatalf("upstream context %q", id)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"--listen", p.addr}},
		{"environment", []string{"SCPROXY_LISTEN=" + p.addr}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runStatus(t, tc.env, tc.args...)
			if s.code != 0 || s.stderr.String() != "" {
				t.Fatalf("exit %d, stderr %q", s.code, s.stderr.String())
			}
			out := s.stdout.String()
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[2], "REQ requests") {
				t.Fatalf("want a header, one endpoint and the legend:\n%s", out)
			}
			// The table is aligned: a column's value starts where its
			// heading does.
			col := func(name string) string {
				i := strings.Index(lines[0], name)
				if i < 0 || i >= len(lines[1]) {
					return ""
				}
				f := strings.Fields(lines[1][i:])
				if len(f) == 0 {
					return ""
				}
				return f[0]
			}
			// The context's identifier is in --json (below): the table
			// keeps to 100 columns.
			if col("ENDPOINT") != endpoint || col("STATE") != "active" || col("REQ") != strconv.Itoa(calls) || col("ISS") != "1" {
				t.Errorf("endpoint %q state %q requests %q issued %q, want %q active %d 1:\n%s",
					col("ENDPOINT"), col("STATE"), col("REQ"), col("ISS"), endpoint, calls, out)
			}
		})
	}

	s := runStatus(t, nil, "--listen", p.addr, "--json")
	if s.code != 0 {
		t.Fatalf("--json: exit %d, stderr %q", s.code, s.stderr.String())
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(s.stdout.String()), &st); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, s.stdout.String())
	}
	if len(st.Endpoints) != 1 || st.Security != "context" {
		t.Fatalf("--json: %+v", st)
	}
	if e := st.Endpoints[0]; e.Endpoint != endpoint || e.State != "active" || e.Identifier != id || e.Requests != calls {
		t.Errorf("--json endpoint %+v, want %s active %s %d requests", e, endpoint, id, calls)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("scproxy run exit code %d", code)
	}
	p.checkNoSecret(t, u.password)
}

// TestStatusNoProxy: status against a closed port fails with one line
// naming the address and the flag.
func TestStatusNoProxy(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	s := runStatus(t, nil, "--listen", addr)
	msg := s.stderr.String()
	if s.code != 1 {
		t.Errorf("exit code %d, want 1", s.code)
	}
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, addr) || !strings.Contains(msg, "--listen") {
		t.Errorf("stderr %q, want one line naming %s and --listen", msg, addr)
	}
	if s.stdout.String() != "" {
		t.Errorf("stdout %q", s.stdout.String())
	}
}
