package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
)

// reloadRig is the built-in server behind TLS and the files a
// configuration of many services refers to.
type reloadRig struct {
	// srv serves the sc-tls and x509 profiles at url, msg the message
	// profile at msgURL.
	srv, msg                       *scserver.Server
	url, msgURL                    string
	dir                            string
	caFile, certFile, keyFile, pwf string
	serverCert, credDir            string
	// pidFile, when set, is the file's pid-file.
	pidFile string
}

// serveTLS serves the built-in server over TLS with the test PKI's
// server certificate.
func serveTLS(t *testing.T, cfg scserver.Config) (*scserver.Server, string) {
	t.Helper()
	cfg.PlainHTTP = true // TLS is httptest's
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{testkit.Server().TLS()}}
	ts.StartTLS()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return srv, ts.URL
}

// counts returns the contexts both servers issued and cancelled.
func (r *reloadRig) counts() (issued, cancelled int) {
	a, b := r.srv.Stats(), r.msg.Stats()
	return a.Issued + b.Issued, a.Cancelled + b.Cancelled
}

func newReloadRig(t *testing.T) *reloadRig {
	t.Helper()
	srv, url := serveTLS(t, scserver.Config{Users: map[string]string{"alice": canary}, TrustedCAs: testkit.Pool()})
	msg, msgURL := serveTLS(t, scserver.Config{Users: map[string]string{"alice": canary}, Message: &scserver.MessageSecurity{
		Certificate: testkit.Server().Cert, Key: testkit.Server().RSAKey(), DerivedKeys: true,
		Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapUsername},
	}})
	dir := t.TempDir()
	credDir := t.TempDir()
	writeFile(t, credDir, "svc-password", canary+"\n", 0o400)
	return &reloadRig{
		srv: srv, url: url, msg: msg, msgURL: msgURL, dir: dir, credDir: credDir,
		serverCert: writeFile(t, dir, "server.pem", string(testkit.Server().CertPEM), 0o644),
		caFile:     writeFile(t, dir, "ca.pem", string(testkit.CA().CertPEM), 0o644),
		certFile:   writeFile(t, dir, "client.pem", string(testkit.Client().CertPEM), 0o644),
		keyFile:    writeFile(t, dir, "client.key", string(testkit.Client().KeyPEM), 0o600),
		pwf:        writeFile(t, dir, "password", canary+"\n", 0o600),
	}
}

// serviceKind is one way a service of the test secures its messages.
type serviceKind int

const (
	kindUsernameEnv serviceKind = iota
	kindUsernameFile
	kindUsernameSystemd
	kindCertificate
	kindX509
	kindMessage
	kinds
)

// contexts reports whether a service of kind k establishes contexts.
func (k serviceKind) contexts() bool { return k != kindX509 }

// service returns the YAML of a service named name of kind k, in SC
// version sc, with extra lines.
func (r *reloadRig) service(name string, k serviceKind, sc string, extra ...string) string {
	lines := []string{
		"  - name: " + name,
		"    prefix: /" + name,
		"    upstream: " + r.upstream(name, k),
		`    sc-version: "` + sc + `"`,
	}
	switch k {
	case kindUsernameEnv:
		lines = append(lines, "    username: alice", "    password-env: PW")
	case kindUsernameFile:
		lines = append(lines, "    username: alice", "    password-file: "+r.pwf)
	case kindUsernameSystemd:
		lines = append(lines, "    username: alice", "    systemd-credential: svc-password")
	case kindCertificate:
		lines = append(lines, "    bootstrap: certificate", "    cert-file: "+r.certFile, "    key-file: "+r.keyFile)
	case kindX509:
		lines = append(lines, "    profile: x509", "    cert-file: "+r.certFile, "    key-file: "+r.keyFile)
	case kindMessage:
		lines = append(lines, "    profile: message", "    message-bootstrap: username", "    server-cert: "+r.serverCert,
			"    username: alice", "    password-env: PW")
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// upstream is the address of service name of kind k.
func (r *reloadRig) upstream(name string, k serviceKind) string {
	if k == kindMessage {
		return r.msgURL + "/svc/" + name
	}
	return r.url + "/svc/" + name
}

// fileOf is a configuration of the services given.
func (r *reloadRig) fileOf(services ...string) string {
	head := "listen: 127.0.0.1:0\nlog-level: debug\nca-file: " + r.caFile + "\n"
	if r.pidFile != "" {
		head += "pid-file: " + r.pidFile + "\n"
	}
	return head + "services:\n" + strings.Join(services, "")
}

// testService is a service of the test and how it was written.
type testService struct {
	name  string
	kind  serviceKind
	sc    string
	extra []string
}

func (r *reloadRig) write(t *testing.T, path string, services []testService) {
	t.Helper()
	var yaml []string
	for _, s := range services {
		yaml = append(yaml, r.service(s.name, s.kind, s.sc, s.extra...))
	}
	if err := os.WriteFile(path, []byte(r.fileOf(yaml...)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// echo sends one SOAP 1.1 echo to path through the proxy at addr and
// marks the test failed unless it comes back (from any goroutine).
func echo(t *testing.T, addr, path, text string) {
	t.Helper()
	if code, body := post(t, addr, path, text); code != http.StatusOK || !strings.Contains(body, text) {
		t.Errorf("POST %s: HTTP %d, want the echo of %s:\n%s", path, code, text, body)
	}
}

// post posts an echo request; a failed exchange is HTTP 0.
func post(t *testing.T, addr, path, text string) (int, string) {
	t.Helper()
	body := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>` +
		`<EchoString xmlns="http://tempuri.org/"><echo>` + text + `</echo></EchoString></soap:Body></soap:Envelope>`
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"http://tempuri.org/IEchoService/EchoString"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// contextIDs returns the identifier of each endpoint's context, by its
// upstream address.
func contextIDs(a *agent) map[string]string {
	ids := map[string]string{}
	for _, ep := range a.front.Status().Endpoints {
		ids[ep.Endpoint] = ep.Identifier
	}
	return ids
}

// TestReloadFiftyServices: 50 services across both SC versions, three
// secret references, two bootstraps and three profiles run against the
// built-in server; a reload that adds, removes and changes services
// keeps every untouched context (no new Issue), cancels the removed and
// changed ones' contexts, and the changed and new ones establish anew; a
// file that fails is refused whole and changes nothing.
func TestReloadFiftyServices(t *testing.T) {
	rig := newReloadRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var services []testService
	for i := range 50 {
		sc := "2005-02"
		if i%2 == 1 {
			sc = "1.3"
		}
		services = append(services, testService{name: fmt.Sprintf("s%02d", i), kind: serviceKind(i % int(kinds)), sc: sc})
	}
	path := rig.dir + "/scproxy.yaml"
	rig.write(t, path, services)
	var logs testkit.LogBuffer
	env := map[string]string{"PW": canary, "CREDENTIALS_DIRECTORY": rig.credDir}
	l := &configLoader{file: path, overrides: overrides{}, s: Streams{Err: &logs, Getenv: mapEnv(env)}}
	a, err := newAgent(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ln, err := a.front.Listen()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- a.front.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	callAll := func(round string, ss []testService) {
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Go(func() { echo(t, addr, "/"+s.name, round+"-"+s.name) })
		}
		wg.Wait()
	}
	withContexts := func(ss []testService) int {
		n := 0
		for _, s := range ss {
			if s.kind.contexts() {
				n++
			}
		}
		return n
	}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	callAll("first", services)
	if t.Failed() {
		t.FailNow()
	}
	issued1, cancelled1 := rig.counts()
	if want := withContexts(services); issued1 != want {
		t.Fatalf("%d contexts issued for %d services with contexts", issued1, want)
	}
	if n := rig.msg.Stats().Issued; n != len(services)/int(kinds) {
		t.Errorf("the message profile's server issued %d contexts, want one per service of that profile (%d)", n, len(services)/int(kinds))
	}
	ids1 := contextIDs(a)

	removed, changed, kept := services[:6], slices.Clone(services[6:12]), services[12:]
	for i := range changed {
		changed[i].extra = []string{"    upstream-timeout: 90s"}
	}
	var added []testService
	for i := range int(kinds) {
		added = append(added, testService{name: fmt.Sprintf("n%02d", i), kind: serviceKind(i), sc: []string{"2005-02", "1.3"}[i%2]})
	}
	next := slices.Concat(added, changed, kept)
	rig.write(t, path, next)
	// Requests to kept services go on while the reload runs: none fails.
	during := make(chan struct{})
	var traffic sync.WaitGroup
	for _, s := range kept[:4] {
		traffic.Go(func() {
			for i := 0; ; i++ {
				echo(t, addr, "/"+s.name, fmt.Sprintf("during-%d", i))
				select {
				case <-during:
					return
				default:
				}
			}
		})
	}
	start := time.Now()
	res, err := a.reload(ctx)
	t.Logf("reload of %d services (%d cancels) took %v", len(next), withContexts(removed)+withContexts(changed), time.Since(start))
	close(during)
	traffic.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Started) != 6 || len(res.Changed) != 6 || len(res.Removed) != 6 || len(res.Kept) != 38 {
		t.Errorf("reload: %+v, want 6 started, 6 changed, 6 removed, 38 kept", res)
	}
	issued2, cancelled2 := rig.counts()
	if issued2 != issued1 {
		t.Errorf("the reload issued %d contexts", issued2-issued1)
	}
	if got, want := cancelled2-cancelled1, withContexts(removed)+withContexts(changed); got != want {
		t.Errorf("the reload cancelled %d contexts, want %d (the removed and changed services')", got, want)
	}

	callAll("second", next)
	issued3, cancelled3 := rig.counts()
	if got, want := issued3-issued2, withContexts(added)+withContexts(changed); got != want {
		t.Errorf("after the reload, %d new contexts, want %d (the new and changed services'), none for the kept", got, want)
	}
	ids3 := contextIDs(a)
	for _, s := range kept {
		ep := rig.upstream(s.name, s.kind)
		if s.kind.contexts() && (ids1[ep] == "" || ids3[ep] != ids1[ep]) {
			t.Errorf("kept service %s: context %q, was %q", s.name, ids3[ep], ids1[ep])
		}
	}
	if code, _ := post(t, addr, "/"+removed[0].name, "gone"); code != http.StatusNotFound {
		t.Errorf("a removed service's path: HTTP %d, want 404", code)
	}

	// A file that fails is refused whole; the services stay.
	bad := rig.fileOf(rig.service("late", kindUsernameEnv, "1.3"), rig.service("s12", kindUsernameEnv, "1.3", "    renew-mode: sometimes"))
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = a.reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "renew-mode") {
		t.Fatalf("reload of a bad file: %v, want it refused naming renew-mode", err)
	}
	a.logReload(reloadResult{}, err)
	if !strings.Contains(logs.String(), "configuration refused") {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
	callAll("third", next)
	if issued4, cancelled4 := rig.counts(); issued4 != issued3 || cancelled4 != cancelled3 {
		t.Errorf("after a refused reload: %d issued, %d cancelled; want %d and %d as before", issued4, cancelled4, issued3, cancelled3)
	}
	if len(a.front.Services()) != len(next) {
		t.Errorf("%d services after a refused reload, want %d", len(a.front.Services()), len(next))
	}
}

// watchedLog is a log buffer that tells a waiting test of each write.
type watchedLog struct {
	testkit.LogBuffer
	wrote chan struct{}
}

func newWatchedLog() *watchedLog { return &watchedLog{wrote: make(chan struct{}, 1)} }

func (w *watchedLog) Write(p []byte) (int, error) {
	n, err := w.LogBuffer.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitFor waits until the log holds text n times, failing after a while.
func (w *watchedLog) waitFor(t *testing.T, text string, n int) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		if s := w.String(); strings.Count(s, text) >= n {
			return s
		}
		select {
		case <-w.wrote:
		case <-timeout:
			t.Fatalf("no %q in the log:\n%s", text, w.String())
		}
	}
}

// TestReloadCommand: run --config writes its pid file and applies the
// changed file when scproxy reload signals it (SIGHUP); reload checks
// the file first and does not signal for one that fails; the pid file is
// gone after the run.
func TestReloadCommand(t *testing.T) {
	rig := newReloadRig(t)
	path, pidFile := rig.dir+"/scproxy.yaml", rig.dir+"/scproxy.pid"
	// The file names the pid file: run and reload find it there.
	rig.pidFile = pidFile
	a := testService{name: "a", kind: kindUsernameEnv, sc: "1.3"}
	rig.write(t, path, []testService{a})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, logs, done := runAgent(ctx, t, path)
	echo(t, addr, "/a", "before")

	b := testService{name: "b", kind: kindCertificate, sc: "2005-02"}
	rig.write(t, path, []testService{a, b})
	var out, errOut bytes.Buffer
	cmd := Streams{Out: &out, Err: &errOut, Getenv: mapEnv(map[string]string{"PW": canary})}
	if code := Main(ctx, []string{"reload", "--config", path}, cmd); code != ExitOK {
		t.Fatalf("reload: exit %d: %s", code, errOut.String())
	}
	logs.waitFor(t, "configuration reloaded", 1)
	echo(t, addr, "/b", "after")
	echo(t, addr, "/a", "after")
	if n := rig.srv.Stats().Issued; n != 2 {
		t.Errorf("%d contexts issued, want 2 (a kept its context)", n)
	}
	// The agent of a configuration file serves the monitoring paths too,
	// with every service's requests, those of a service the reload
	// added included.
	if code, body := localGet(t, addr, "/_scproxy/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `scproxy_requests_total{code="200",route="/b"} 1`) ||
		!strings.Contains(body, `scproxy_requests_total{code="200",route="/a"} 2`) {
		t.Errorf("metrics: %d, want the requests of /a and /b counted:\n%s", code, body)
	}
	if code, body := localGet(t, addr, "/_scproxy/readyz"); code != http.StatusOK {
		t.Errorf("readyz: %d %s, want 200", code, body)
	}

	if err := os.WriteFile(path, []byte(rig.fileOf(rig.service("a", kindUsernameEnv, "1.3", "    entropy: most"))), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := Main(ctx, []string{"reload", "--pid-file", pidFile, "--config", path}, cmd); code != ExitUsage || !strings.Contains(errOut.String(), path+":12: entropy") {
		t.Errorf("reload of a bad file: exit %d: %s; want a usage error at its line", code, errOut.String())
	}
	stopCommand(t, cancel, done, ExitOK, logs)
	if strings.Count(logs.String(), "configuration re") != 1 {
		t.Errorf("the bad file reached the agent:\n%s", logs.String())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after the run: %v", err)
	}
}

// runAgent runs scproxy run --config path until ctx ends and returns
// its listening address, its log and where its exit code will be.
func runAgent(ctx context.Context, t *testing.T, path string) (string, *watchedLog, <-chan int) {
	t.Helper()
	logs := newWatchedLog()
	s := Streams{Out: io.Discard, Err: logs, Getenv: mapEnv(map[string]string{"PW": canary})}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run", "--config", path}, s) }()
	m := regexp.MustCompile(`msg="configuration loaded" .* addr=(\S+)`).FindStringSubmatch(logs.waitFor(t, "configuration loaded", 1))
	if m == nil {
		t.Fatalf("no listening address in the log:\n%s", logs.String())
	}
	return m[1], logs, done
}

// TestReloadRefusesGlobalChange: a reload that changes a setting of the
// listener or the process is refused naming it, and the services stay.
func TestReloadRefusesGlobalChange(t *testing.T) {
	rig := newReloadRig(t)
	path := rig.dir + "/scproxy.yaml"
	rig.write(t, path, []testService{{name: "a", kind: kindUsernameEnv, sc: "1.3"}})
	l := &configLoader{file: path, overrides: overrides{}, s: Streams{Err: io.Discard, Getenv: mapEnv(map[string]string{"PW": canary})}}
	a, err := newAgent(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	changed := strings.Replace(rig.fileOf(rig.service("a", kindUsernameEnv, "1.3"), rig.service("b", kindUsernameEnv, "1.3")), "log-level: debug", "log-level: warn", 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.reload(context.Background()); err == nil || !strings.Contains(err.Error(), "log-level changed") {
		t.Errorf("reload with a new log-level: %v, want it refused naming log-level", err)
	}
	if n := len(a.front.Services()); n != 1 {
		t.Errorf("%d services after the refused reload, want 1", n)
	}
}

// localGet GETs path from the listener at addr and returns the status and
// body.
func localGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
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
