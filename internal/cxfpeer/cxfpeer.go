package cxfpeer

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// JVMFlags are the fixed flags of every JVM this package starts.
var JVMFlags = []string{"-Xms512m", "-Xmx512m", "-XX:+UseSerialGC", "-Xss512k"}

// Require returns the paths of java and mvn. When either is missing it
// skips the test outside CI and fails it under CI (CI set).
func Require(t testing.TB) (java, mvn string) {
	t.Helper()
	java, mvn, err := Tools()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v, required in CI", err)
		}
		t.Skipf("%v (apt-get install openjdk-17-jdk-headless maven); skipping the CXF tests", err)
	}
	return java, mvn
}

// Tools finds java and mvn on PATH.
func Tools() (java, mvn string, err error) {
	var missing []string
	if java, err = exec.LookPath("java"); err != nil {
		missing = append(missing, "java")
	}
	if mvn, err = exec.LookPath("mvn"); err != nil {
		missing = append(missing, "mvn")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("%s not installed", strings.Join(missing, " and "))
	}
	return java, mvn, nil
}

// Source finds the peer's Maven project: testdata/peers/cxf of the module
// root at or above the working directory.
func Source() (string, error) { return projectDir("cxf") }

// projectDir finds the Maven project testdata/peers/<name> of the module
// root at or above the working directory.
func projectDir(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "testdata", "peers", name)
		if _, err := os.Stat(filepath.Join(p, "pom.xml")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return p, nil
			}
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("cxfpeer: testdata/peers/%s not found above the working directory", name)
		}
		dir = up
	}
}

// sourceHash names a build of the peer: a hash of its POM and of src/.
func sourceHash(root string) (string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "target" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		if !d.IsDir() && (rel == "pom.xml" || strings.HasPrefix(filepath.ToSlash(rel), "src/")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Build is a built peer: its jar and the directory of its libraries.
type Build struct{ Jar, Lib string }

func (b Build) classpath() string {
	return b.Jar + string(os.PathListSeparator) + filepath.Join(b.Lib, "*")
}

// BuildPeer builds the peer once per source hash into the user's cache
// directory (SCPROXY_PEER_CACHE overrides it): Maven offline first (CI
// resolves the dependencies into ~/.m2 beforehand), online when that
// fails.
func BuildPeer(mvn string) (Build, error) { return buildProject(mvn, "cxf", "cxf-peer-1.jar") }

// BuildMetro builds the Metro peer (testdata/peers/metro) as BuildPeer
// builds the CXF one.
func BuildMetro(mvn string) (Build, error) { return buildProject(mvn, "metro", "metro-peer-1.jar") }

// buildProject builds testdata/peers/<name>, whose jar is jar, once per
// source hash.
func buildProject(mvn, name, jar string) (Build, error) {
	src, err := projectDir(name)
	if err != nil {
		return Build{}, err
	}
	hash, err := sourceHash(src)
	if err != nil {
		return Build{}, fmt.Errorf("hashing the peer's sources: %w", err)
	}
	cache := os.Getenv("SCPROXY_PEER_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cache = filepath.Join(base, "scproxy", "interop")
	}
	dir := filepath.Join(cache, name+"-"+hash)
	b := Build{Jar: filepath.Join(dir, jar), Lib: filepath.Join(dir, "lib")}
	if _, err := os.Stat(b.Jar); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Build{}, err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return Build{}, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"-B", "-q", "-f", filepath.Join(src, "pom.xml"), "-Dpeer.build.dir=" + filepath.Join(tmp, "target"),
		"package", "dependency:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory=" + filepath.Join(tmp, "out", "lib")}
	out, err := exec.Command(mvn, append([]string{"-o"}, args...)...).CombinedOutput()
	if err != nil {
		out, err = exec.Command(mvn, args...).CombinedOutput()
	}
	if err != nil {
		return Build{}, fmt.Errorf("building the %s peer with Maven: %v\n%s", name, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "target", jar), filepath.Join(tmp, "out", jar)); err != nil {
		return Build{}, err
	}
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil {
		if _, statErr := os.Stat(b.Jar); statErr != nil { // another build won the race
			return Build{}, err
		}
	}
	return b, nil
}

// The bootstrap user of the peer; its password reaches scproxy through
// --password-env and the JVMs through their environment.
const (
	User     = "alice"
	Password = "interop-Pa55word"
)

// Options are the service's settings.
type Options struct {
	// Lifetime of the contexts the service issues.
	Lifetime time.Duration
	// WireLog, when set, is the file every message is logged to (JSON
	// lines: dir, path, contentType, soapAction, status, message).
	WireLog string
	// KeyLog, when set, is the file the message-security endpoints log
	// the secret of every context they issue or renew to (JSON lines:
	// path, id, type, secret in base64), for checking captured messages.
	KeyLog string
}

// process is a JVM this package started, speaking line by line.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan struct{}
	errLog string
	mu     sync.Mutex // one command at a time
}

func startJVM(java string, b Build, dir, name string, env []string, args ...string) (*process, error) {
	p := &process{errLog: filepath.Join(dir, name+"-stderr.log"), lines: make(chan string, 16), done: make(chan struct{})}
	p.cmd = exec.Command(java, append(append(clone(JVMFlags), "-cp", b.classpath()), args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	errf, err := os.Create(p.errLog)
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = errf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_ = p.cmd.Wait()
		errf.Close()
		close(p.done)
	}()
	return p, nil
}

func clone(s []string) []string { return append([]string(nil), s...) }

// await waits for a line of the process's output with prefix.
func (p *process) await(prefix string, d time.Duration) (string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l := <-p.lines:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-p.done:
			return "", fmt.Errorf("the JVM exited:\n%s", p.StderrTail())
		case <-timer.C:
			return "", fmt.Errorf("no %q line after %v:\n%s", strings.TrimSpace(prefix), d, p.StderrTail())
		}
	}
}

// command sends one line and waits for the answer line starting with want.
func (p *process) command(line, want string, d time.Duration) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return "", err
	}
	return p.await(want, d)
}

// PID is the JVM's process id.
func (p *process) PID() int { return p.cmd.Process.Pid }

// Stop closes the JVM's standard input, which ends it, and kills it if it
// lingers.
func (p *process) Stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.stdin.Close()
	// Lines no one waits for any more must not hold the reader, which
	// reaps the process.
	go func() {
		for {
			select {
			case <-p.lines:
			case <-p.done:
				return
			}
		}
	}()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// StderrTail is the end of what the JVM wrote on standard error.
func (p *process) StderrTail() string {
	b, _ := os.ReadFile(p.errLog)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Peer is a running CXF service.
type Peer struct {
	*process
	// Base is https://127.0.0.1:PORT; WireLog the message log, if any.
	Base, WireLog string
	// Plain is http://127.0.0.1:PORT, the listener of the
	// message-security scenarios; KeyLog their key log, if any.
	Plain, KeyLog string
	// Endpoints are the addresses of every endpoint the service serves.
	Endpoints []string
	PKI       *PKI
}

// Start runs the service on a loopback port, its files in dir, and waits
// until it serves.
func Start(java string, b Build, pki *PKI, dir string, o Options) (*Peer, error) {
	logArg, keyArg := "-", "-"
	if o.WireLog != "" {
		logArg = o.WireLog
	}
	if o.KeyLog != "" {
		keyArg = o.KeyLog
	}
	p, err := startJVM(java, b, dir, "peer", []string{"PEER_PASSWORD=" + Password}, "io.scproxy.peer.Main",
		"--cert", pki.ServerCert, "--key", pki.ServerKey, "--ca", pki.CAFile, "--log", logArg, "--keys", keyArg,
		"--sct-lifetime-ms", fmt.Sprint(o.Lifetime.Milliseconds()), "--user", User)
	if err != nil {
		return nil, err
	}
	line, err := p.await("READY ", 90*time.Second)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("CXF peer: %w", err)
	}
	var ready struct {
		Base      string   `json:"base"`
		Plain     string   `json:"plain"`
		Endpoints []string `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &ready); err != nil || ready.Base == "" || ready.Plain == "" {
		p.Stop()
		return nil, fmt.Errorf("CXF peer: bad ready line %q", line)
	}
	return &Peer{process: p, Base: ready.Base, Plain: ready.Plain, Endpoints: ready.Endpoints,
		WireLog: o.WireLog, KeyLog: o.KeyLog, PKI: pki}, nil
}

// URL is the address of the endpoint at path (e.g. "ut/13/soap12").
func (p *Peer) URL(path string) string { return p.Base + "/" + strings.TrimPrefix(path, "/") }

// Restart drops every endpoint and every security context of the service
// and serves again on the same port: a recycled service.
func (p *Peer) Restart() error {
	_, err := p.command("restart", "RESTARTED", 60*time.Second)
	return err
}

// Client is a running CXF load client: CXF's own client side of SC over
// TLS (username bootstrap) calling one endpoint of the peer.
type Client struct{ *process }

// StartClient runs the load client against url (an endpoint of the peer
// whose policy version is "2005" or "13"), trusting the peer's CA.
func StartClient(java string, b Build, pki *PKI, dir, url, version string) (*Client, error) {
	p, err := startJVM(java, b, dir, "client", []string{"PEER_PASSWORD=" + Password}, "io.scproxy.peer.Client",
		"--url", url, "--ca", pki.CAFile, "--version", version, "--user", User)
	if err != nil {
		return nil, err
	}
	if _, err := p.await("READY", 90*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("CXF client: %w", err)
	}
	return &Client{p}, nil
}

// RunResult is what one closed loop of the client did.
type RunResult struct {
	Messages, Errors int
	Elapsed          time.Duration
	FirstError       string
}

// Run drives a closed loop of threads callers (each with its own context)
// for d with payloads of size bytes, and waits for it.
func (c *Client) Run(size, threads int, d time.Duration) (RunResult, error) {
	return c.load(fmt.Sprintf("run %d %d %d", size, threads, d.Milliseconds()), d)
}

// load sends a load command that runs for d and reads its answer,
// "DONE messages errors nanoseconds [first error]".
func (p *process) load(cmd string, d time.Duration) (RunResult, error) {
	line, err := p.command(cmd, "DONE ", d+2*time.Minute)
	if err != nil {
		return RunResult{}, err
	}
	var r RunResult
	var ns int64
	f := strings.SplitN(strings.TrimPrefix(line, "DONE "), " ", 4)
	if len(f) < 3 {
		return r, fmt.Errorf("CXF client: bad answer %q", line)
	}
	if _, err := fmt.Sscan(f[0]+" "+f[1]+" "+f[2], &r.Messages, &r.Errors, &ns); err != nil {
		return r, fmt.Errorf("CXF client: bad answer %q: %w", line, err)
	}
	if len(f) == 4 {
		r.FirstError = f[3]
	}
	r.Elapsed = time.Duration(ns)
	return r, nil
}
