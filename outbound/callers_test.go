//go:build linux

package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/wire/soap"
)

// callerHelperEnv, set in the environment of this test binary, makes it
// GET the URL it holds and print the status, instead of running the
// tests: the caller of the tests below, started as another user.
// "unix:PATH" GETs the status document through the Unix socket PATH.
const callerHelperEnv = "SCPROXY_TEST_CALLER_GET"

func init() {
	target := os.Getenv(callerHelperEnv)
	if target == "" {
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if sock, ok := strings.CutPrefix(target, "unix:"); ok {
		client = unixClient(sock)
		target = "http://localhost" + outbound.StatusPath
	}
	resp, err := client.Get(target)
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(0)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Println("status:", resp.StatusCode)
	os.Exit(0)
}

// nobody is the uid and gid of the other local user of these tests.
const nobody = 65534

// asNobody runs this test binary as the user nobody to GET target and
// returns what it printed: "status: N" or "refused: ...". The tests run
// as root, which may start a process as another user; the binary is
// copied where that user may run it.
func asNobody(t *testing.T, target string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	bin := nobodyBinary(t)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{callerHelperEnv + "=" + target}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the caller as nobody: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// nobodyBinary copies the test binary into a directory every user may
// enter, once per test.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	dir := openDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "caller.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// openDir is a temporary directory that every user may enter.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCallersOtherUserRefused: on loopback TCP a process of another local
// user is refused by default (it would otherwise use the proxy's
// credential and read its status document), while this user's processes
// are served.
func TestCallersOtherUserRefused(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	status := px.base + outbound.StatusPath
	if got := asNobody(t, status); !strings.HasPrefix(got, "refused:") {
		t.Fatalf("another user's call to %s: %s, want it refused", outbound.StatusPath, got)
	}
	resp, err := http.Get(status)
	if err != nil {
		t.Fatalf("this user's call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("this user's call: status %d", resp.StatusCode)
	}
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("own user"))), soap.V11, "own user", false)
}

// unixClient is an HTTP client whose every connection goes to the Unix
// socket sock.
func unixClient(sock string) *http.Client {
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", sock)
	}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// serveCallers serves a proxy configured by cfg on the listener its
// Listen opens (a Unix socket or TCP) until stop is called or the test
// ends.
func serveCallers(t *testing.T, cfg outbound.Config) (ln net.Listener, stop func()) {
	t.Helper()
	cfg.Security = outbound.SecurityNone
	if cfg.Routes == nil {
		u, _ := url.Parse("https://svc.example/Service.svc")
		cfg.Routes = routes(u)
	}
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln, stop
}

// getStatus GETs the status document with client and returns the
// status code, or the error.
func getStatus(client *http.Client, target string) (int, error) {
	resp, err := client.Get(target)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestCallersAllowlist: the uid allowlist on loopback TCP, IPv4 and IPv6,
// refuses exactly the users it does not name: nobody is served once
// allowed (so the peer's uid is really found), this user is refused
// when only nobody is allowed, and AnyLocalUser turns the check off.
func TestCallersAllowlist(t *testing.T) {
	self := os.Geteuid()
	tests := []struct {
		name            string
		listen          string
		cfg             outbound.Config
		nobody, ownUser bool
	}{
		{"default IPv4", "127.0.0.1:0", outbound.Config{}, false, true},
		{"default IPv6", "[::1]:0", outbound.Config{}, false, true},
		{"nobody allowed", "127.0.0.1:0", outbound.Config{AllowUIDs: []int{self, nobody}}, true, true},
		{"only nobody, IPv6", "[::1]:0", outbound.Config{AllowUIDs: []int{nobody}}, true, false},
		{"any local user", "127.0.0.1:0", outbound.Config{AnyLocalUser: true}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Listen = tt.listen
			ln, _ := serveCallers(t, tt.cfg)
			target := "http://" + ln.Addr().String() + outbound.StatusPath
			got := asNobody(t, target)
			if served := got == "status: 200"; served != tt.nobody {
				t.Errorf("nobody: %s, want served %v", got, tt.nobody)
			}
			code, err := getStatus(&http.Client{Timeout: 10 * time.Second}, target)
			if served := err == nil && code == http.StatusOK; served != tt.ownUser {
				t.Errorf("uid %d: status %d, %v; want served %v", self, code, err, tt.ownUser)
			}
		})
	}
}

// TestCallersUnixSocket: the Unix socket is created with the configured
// mode (0600 by default), serves this user's requests, refuses other
// users that its mode leaves out, and is removed at shutdown; a mode
// open to others is refused as a setting.
func TestCallersUnixSocket(t *testing.T) {
	for _, mode := range []fs.FileMode{0, 0o660} {
		t.Run(fmt.Sprintf("mode %04o", mode), func(t *testing.T) {
			sock := filepath.Join(openDir(t), "scproxy.sock")
			ln, stop := serveCallers(t, outbound.Config{ListenUnix: sock, ListenUnixMode: mode})
			if got := ln.Addr().String(); got != sock {
				t.Errorf("listener address %q, want %q", got, sock)
			}
			info, err := os.Lstat(sock)
			if err != nil {
				t.Fatal(err)
			}
			want := mode
			if want == 0 {
				want = outbound.DefaultListenUnixMode
			}
			if info.Mode().Type() != fs.ModeSocket || info.Mode().Perm() != want {
				t.Fatalf("socket file mode %v, want a socket with %04o", info.Mode(), want)
			}
			if code, err := getStatus(unixClient(sock), "http://localhost"+outbound.StatusPath); err != nil || code != http.StatusOK {
				t.Fatalf("this user through the socket: %d, %v", code, err)
			}
			if got := asNobody(t, "unix:"+sock); !strings.HasPrefix(got, "refused:") || !strings.Contains(got, "permission denied") {
				t.Fatalf("nobody through the socket: %s, want permission denied", got)
			}
			stop()
			if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("socket file left after close: %v", err)
			}
		})
	}
	p, err := outbound.New(outbound.Config{ListenUnix: "/tmp/x.sock", ListenUnixMode: 0o666, Security: outbound.SecurityNone, Routes: routes(&url.URL{Scheme: "https", Host: "svc.example"})})
	var se *setting.Error
	if !errors.As(err, &se) || se.Field != "ListenUnixMode" {
		t.Fatalf("mode 0666: %v, %v; want a ListenUnixMode error", p, err)
	}
}
