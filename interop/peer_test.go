package interop

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// peerSource is the Maven project of the CXF service.
const peerSource = "../testdata/peers/cxf"

// requireJava returns the paths of java and mvn, skipping the test when
// either is missing outside CI and failing it under CI.
func requireJava(t testing.TB) (java, mvn string) {
	t.Helper()
	var missing []string
	java, err := exec.LookPath("java")
	if err != nil {
		missing = append(missing, "java")
	}
	mvn, err = exec.LookPath("mvn")
	if err != nil {
		missing = append(missing, "mvn")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s required in CI but not installed", strings.Join(missing, " and "))
		}
		t.Skipf("%s not installed (apt-get install openjdk-17-jdk-headless maven); skipping the CXF interop tests", strings.Join(missing, " and "))
	}
	return java, mvn
}

// sourceHash names a build of the peer: a hash of its POM and sources.
func sourceHash(root string) (string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "target" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
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

// peerBuild is a built peer: its jar and the directory of its libraries.
type peerBuild struct{ jar, lib string }

func (b peerBuild) classpath() string {
	return b.jar + string(os.PathListSeparator) + filepath.Join(b.lib, "*")
}

// buildPeer builds the peer once per source hash, into the user's cache
// directory (SCPROXY_PEER_CACHE overrides it): Maven offline when the
// local repository already holds every artifact, online otherwise.
func buildPeer(mvn string) (peerBuild, error) {
	src, err := filepath.Abs(peerSource)
	if err != nil {
		return peerBuild{}, err
	}
	hash, err := sourceHash(src)
	if err != nil {
		return peerBuild{}, fmt.Errorf("hashing the peer's sources: %w", err)
	}
	cache := os.Getenv("SCPROXY_PEER_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cache = filepath.Join(base, "scproxy", "interop")
	}
	dir := filepath.Join(cache, "cxf-"+hash)
	b := peerBuild{jar: filepath.Join(dir, "cxf-peer-1.jar"), lib: filepath.Join(dir, "lib")}
	if _, err := os.Stat(b.jar); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return peerBuild{}, err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return peerBuild{}, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"-B", "-q", "-f", filepath.Join(src, "pom.xml"), "-Dpeer.build.dir=" + filepath.Join(tmp, "target"),
		"package", "dependency:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory=" + filepath.Join(tmp, "out", "lib")}
	out, err := exec.Command(mvn, append([]string{"-o"}, args...)...).CombinedOutput()
	if err != nil {
		out, err = exec.Command(mvn, args...).CombinedOutput()
	}
	if err != nil {
		return peerBuild{}, fmt.Errorf("building the CXF peer with Maven: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "target", "cxf-peer-1.jar"), filepath.Join(tmp, "out", "cxf-peer-1.jar")); err != nil {
		return peerBuild{}, err
	}
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(b.jar); statErr != nil {
			return peerBuild{}, err
		}
	}
	return b, nil
}

// peerOptions are the service's settings, fixed for the test binary.
type peerOptions struct {
	// lifetime of the contexts the service issues.
	lifetime time.Duration
	// log keeps every message in the wire log.
	log bool
}

// cxfPeer is a running CXF service.
type cxfPeer struct {
	pki     *testPKI
	base    string // https://127.0.0.1:PORT
	wireLog string
	errLog  string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	done    chan struct{}
	mu      sync.Mutex // serializes restarts
}

// startPeer runs the service on a loopback port and waits for its READY line.
func startPeer(java string, b peerBuild, pki *testPKI, dir string, o peerOptions) (*cxfPeer, error) {
	p := &cxfPeer{pki: pki, errLog: filepath.Join(dir, "peer-stderr.log"), lines: make(chan string, 16), done: make(chan struct{})}
	logArg := "-"
	if o.log {
		p.wireLog = filepath.Join(dir, "wire.jsonl")
		logArg = p.wireLog
	}
	args := []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-cp", b.classpath(), "io.scproxy.peer.Main",
		"--cert", pki.serverCert, "--key", pki.serverKey, "--ca", pki.caFile, "--log", logArg,
		"--sct-lifetime-ms", fmt.Sprint(o.lifetime.Milliseconds()), "--user", testUser}
	p.cmd = exec.Command(java, args...)
	p.cmd.Env = append(os.Environ(), "PEER_PASSWORD="+testPassword)
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
		return nil, fmt.Errorf("starting the CXF peer: %w", err)
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
	line, err := p.await("READY ", 90*time.Second)
	if err != nil {
		return nil, err
	}
	var ready struct {
		Base string `json:"base"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &ready); err != nil || ready.Base == "" {
		return nil, fmt.Errorf("CXF peer: bad ready line %q", line)
	}
	p.base = ready.Base
	return p, nil
}

// await waits for a line of the peer's standard output with prefix.
func (p *cxfPeer) await(prefix string, d time.Duration) (string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l := <-p.lines:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-p.done:
			return "", fmt.Errorf("CXF peer exited:\n%s", p.stderrTail())
		case <-timer.C:
			return "", fmt.Errorf("CXF peer: no %q line after %v:\n%s", strings.TrimSpace(prefix), d, p.stderrTail())
		}
	}
}

// restart drops every endpoint and every security context of the service
// and serves again on the same port: a recycled service.
func (p *cxfPeer) restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, "restart\n"); err != nil {
		return err
	}
	_, err := p.await("RESTARTED", 60*time.Second)
	return err
}

// stop closes the peer's standard input, which ends it, and kills it if
// it lingers.
func (p *cxfPeer) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *cxfPeer) stderrTail() string {
	b, _ := os.ReadFile(p.errLog)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// url is the address of one of the service's endpoints.
func (p *cxfPeer) url(path string) string { return p.base + "/" + path }

// shared holds what every test of the binary shares: the built binaries,
// the keys and the running peer.
var shared struct {
	once     sync.Once
	err      error
	skip     string
	dir      string
	scproxy  string
	pki      *testPKI
	peer     *cxfPeer
	peerTime time.Duration
}

// peerLifetime is the lifetime of the service's contexts: short, so that
// the proxy renews within the tests (at 60% of it).
const peerLifetime = 14 * time.Second

// setup builds scproxy and the peer and starts the peer, once per test binary.
func setup(t *testing.T) {
	t.Helper()
	java, mvn := requireJava(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "scproxy-interop-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		shared.scproxy = filepath.Join(dir, "scproxy")
		if out, err := exec.Command("go", "build", "-o", shared.scproxy, "github.com/scproxy/scproxy/cmd/scproxy").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("building scproxy: %v\n%s", err, out)
			return
		}
		if shared.pki, err = newPKI(dir); err != nil {
			shared.err = err
			return
		}
		b, err := buildPeer(mvn)
		if err != nil {
			shared.err = err
			return
		}
		start := time.Now()
		shared.peer, shared.err = startPeer(java, b, shared.pki, dir, peerOptions{lifetime: peerLifetime, log: true})
		shared.peerTime = time.Since(start)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

// teardown stops the peer and removes the shared files.
func teardown() {
	if shared.peer != nil {
		shared.peer.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	teardown()
	os.Exit(code)
}
