package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/internal/metrics"
	"github.com/scproxy/scproxy/internal/service"
	"github.com/scproxy/scproxy/outbound"
)

// TestRunNotifiesReadyOnceListening runs `scproxy run` as systemd would
// start it, with NOTIFY_SOCKET naming a fake manager's socket: READY=1
// arrives only once the listener accepts connections (a status request
// through it is answered at once), and STOPPING=1 when it is told to stop.
func TestRunNotifiesReadyOnceListening(t *testing.T) {
	dir, err := os.MkdirTemp("", "scpn") // a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	sock := filepath.Join(dir, "proxy.sock")
	env := mapEnv(map[string]string{"NOTIFY_SOCKET": filepath.Join(dir, "notify")})
	var stderr bytes.Buffer
	s := Streams{Out: io.Discard, Err: &stderr, Getenv: env}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--listen-unix", sock, "--security", "none", "--upstream", "https://127.0.0.1:1/Echo.svc"}, s)
	}()
	read := func() string {
		_ = notify.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 4096)
		n, err := notify.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v (stderr: %s)", err, stderr.String())
		}
		return string(b[:n])
	}
	msg := read()
	if !strings.HasPrefix(msg, "READY=1\n") || !strings.Contains(msg, sock) {
		t.Fatalf("first notification %q, want READY=1 naming %s", msg, sock)
	}
	// READY=1 has arrived: the listener is up and serves, with no retry.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, path := range []string{outbound.StatusPath, metrics.ReadyPath, metrics.HealthPath} {
		resp, err := client.Get("http://localhost" + path)
		if err != nil {
			t.Fatalf("READY=1 but %s fails: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	cancel()
	if msg := read(); !strings.HasPrefix(msg, "STOPPING=1") {
		t.Errorf("at shutdown %q, want STOPPING=1", msg)
	}
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// TestRunNoReadyWhenListenFails: a proxy that cannot bind never says
// READY=1.
func TestRunNoReadyWhenListenFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir, err := os.MkdirTemp("", "scpn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	var stderr bytes.Buffer
	s := Streams{Out: io.Discard, Err: &stderr, Getenv: mapEnv(map[string]string{"NOTIFY_SOCKET": filepath.Join(dir, "notify")})}
	code := Main(context.Background(), []string{"run", "--listen", busy.Addr().String(), "--security", "none", "--upstream", "https://127.0.0.1:1/Echo.svc"}, s)
	if code == ExitOK || !strings.Contains(stderr.String(), busy.Addr().String()) {
		t.Fatalf("exit %d, stderr %q: want a failure naming the address", code, stderr.String())
	}
	_ = notify.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b := make([]byte, 4096)
	for {
		n, err := notify.Read(b)
		if err != nil {
			break
		}
		if strings.Contains(string(b[:n]), "READY=1") {
			t.Fatalf("READY=1 although the listener never bound: %q", b[:n])
		}
	}
}

// fakeManager is a service manager that records what it was asked.
type fakeManager struct {
	service.Systemd
	calls []string
}

func (f *fakeManager) Install(_ context.Context, s service.Spec) error {
	f.calls = append(f.calls, "install "+s.Name)
	return nil
}
func (f *fakeManager) Start(_ context.Context, s service.Spec) error {
	f.calls = append(f.calls, "start "+s.Name+" "+s.Scope.String())
	return nil
}
func (f *fakeManager) Stop(context.Context, service.Spec) error {
	return errors.New("systemctl stop scproxy.service: exit status 5: Unit scproxy.service not loaded.")
}

// serviceCmd runs `scproxy service args` against m.
func serviceCmd(t *testing.T, m service.Manager, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	s := Streams{Out: &out, Err: io.Discard, Getenv: mapEnv(map[string]string{"HOME": "/home/alice"})}
	root := NewRootCmd(s)
	for _, c := range root.Commands() {
		if c.Name() == "service" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(NewCmdService(s, func(ctx context.Context, verb string, o *ServiceOptions, r *cobra.Command) error {
		o.manager = m
		return RunService(ctx, verb, o, r, s)
	}))
	root.SetArgs(append([]string{"service"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestServiceInstall(t *testing.T) {
	root := t.TempDir()
	m := &fakeManager{Systemd: service.Systemd{Env: service.Env{Root: root, Getenv: mapEnv(map[string]string{"HOME": "/home/alice"})}}}
	out, err := serviceCmd(t, m, "install", "--binary", "/usr/local/bin/scproxy", "--credential", "orders-pw=/etc/scproxy/orders.pw")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.calls) != 1 || m.calls[0] != "install scproxy" {
		t.Errorf("manager asked %q", m.calls)
	}
	for _, want := range []string{"installed the system service scproxy", "/usr/local/bin/scproxy run --config /etc/scproxy/config.yaml", "man pages in"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	page, err := os.ReadFile(filepath.Join(root, "usr/local/share/man/man1/scproxy-run.1"))
	if err != nil {
		t.Fatalf("the man page of run was not installed: %v", err)
	}
	if !strings.Contains(string(page), `\fB--sc-version\fP`) {
		t.Errorf("scproxy-run.1 does not describe --sc-version:\n%.400s", page)
	}
	if _, err := serviceCmd(t, m, "start", "--user"); err != nil || m.calls[1] != "start scproxy user" {
		t.Errorf("start --user: %v, %q", err, m.calls)
	}
	if _, err := serviceCmd(t, m, "stop"); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("stop: %v, want the manager's own message", err)
	}
}

// TestServiceInstallPrint shows the unit and installs nothing.
func TestServiceInstallPrint(t *testing.T) {
	root := t.TempDir()
	m := &fakeManager{Systemd: service.Systemd{Env: service.Env{Root: root, Getenv: mapEnv(map[string]string{"HOME": "/home/alice"})}}}
	out, err := serviceCmd(t, m, "install", "--print", "--user", "--binary", "/opt/scproxy", "--config", "/home/alice/scproxy.yaml", "--watchdog", "1m")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# " + root + "/home/alice/.config/systemd/user/scproxy.service", "ExecStart=/opt/scproxy run --config /home/alice/scproxy.yaml", "WatchdogSec=60s", "WantedBy=default.target"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(m.calls) != 0 {
		t.Errorf("--print asked the manager %q", m.calls)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--print wrote %d entries", len(entries))
	}
}

func TestServiceUsageErrors(t *testing.T) {
	m := &fakeManager{}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--binary", "/bin/scproxy", "--credential", "orders-pw"}, "want NAME=PATH"},
		{[]string{"install", "--binary", "/bin/scproxy", "--config", "config.yaml"}, "absolute path"},
		{[]string{"install", "--binary", "scproxy"}, "--binary scproxy: want an absolute path"},
		{[]string{"install", "--binary", "/bin/scproxy", "--name", "a/b"}, "service name"},
	} {
		_, err := serviceCmd(t, m, tc.args...)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
	if len(m.calls) != 0 {
		t.Errorf("a refused command reached the manager: %q", m.calls)
	}
}

// TestManPages writes the pages of every command.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"man", dir}, Streams{Out: &out, Err: &out}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, page := range []string{"scproxy.1", "scproxy-run.1", "scproxy-status.1", "scproxy-service-install.1", "scproxy-man.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		if !strings.HasPrefix(string(b), ".nh") && !strings.Contains(string(b), ".TH \"SCPROXY\" \"1\"") {
			t.Errorf("%s is no man page:\n%.200s", page, b)
		}
	}
	if code := Main(context.Background(), []string{"man"}, Streams{Out: io.Discard, Err: io.Discard}); code != ExitUsage {
		t.Errorf("man without DIR: exit %d, want %d", code, ExitUsage)
	}
}
