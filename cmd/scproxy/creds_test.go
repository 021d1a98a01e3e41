//go:build unix

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/keyringtest"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
)

// startKeyring runs a private Secret Service for one test.
func startKeyring(t *testing.T) *keyringtest.Session {
	t.Helper()
	s, err := keyringtest.Start()
	s = keyringtest.Need(t, s, err)
	t.Cleanup(s.Close)
	return s
}

// runOnce runs the binary to completion, with stdin, and returns its exit
// code, stdout and stderr.
func runOnce(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// waitServing waits until a scproxy run process answers its status path.
func waitServing(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + outbound.StatusPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() {
			t.Fatalf("scproxy run exited with %d:\n%s", p.code, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("scproxy run does not serve")
}

// `creds set` puts the credential in the real keyring (secret-tool reads
// it back), `creds get` shows the user but never the secret, and `run
// --credential` (or the default entry named after the upstream's host)
// establishes a context with it.
func TestCredsSetThenRun(t *testing.T) {
	kr := startKeyring(t)
	u := startUpstream(t)

	code, out, errOut := runOnce(t, kr.Env, u.password+"\n", "creds", "set", "orders", "--username", "demo", "--stdin")
	if code != 0 || !strings.Contains(out, `stored keyring entry "orders"`) {
		t.Fatalf("creds set: %d %q %q", code, out, errOut)
	}
	if _, err := exec.LookPath("secret-tool"); err == nil {
		cmd := exec.Command("secret-tool", "lookup", "service", "scproxy", "username", "orders")
		cmd.Env = append(os.Environ(), kr.Env...)
		got, err := cmd.Output()
		if err != nil || !strings.Contains(string(got), u.password) {
			t.Fatalf("secret-tool does not find the secret in the keyring: %v", err)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("secret-tool not installed")
	}
	code, out, errOut = runOnce(t, kr.Env, "", "creds", "get", "orders")
	if code != 0 || !strings.Contains(out, "demo") || !strings.Contains(out, "stored") || strings.Contains(out+errOut, u.password) {
		t.Fatalf("creds get: %d %q %q", code, out, errOut)
	}

	upstreamURL := u.srv.URL() + "Echo.svc"
	host := mustHost(t, upstreamURL)
	if code, _, errOut := runOnce(t, kr.Env, u.password, "creds", "set", host, "--username", "demo", "--stdin"); code != 0 {
		t.Fatalf("creds set %s: %s", host, errOut)
	}
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"--credential", []string{"--credential", "orders"}},
		{"default entry named after the host", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := u.srv.Stats().Issued
			addr := freeAddr(t)
			args := append([]string{"run", "--listen", addr, "--upstream", upstreamURL, "--ca-file", u.srv.CAFile(), "--log-level", "debug"}, tc.extra...)
			p := start(t, kr.Env, args...)
			waitServing(t, p, addr)
			px := &proxy{proc: p, addr: addr, client: &http.Client{Timeout: 10 * time.Second}}
			px.mustEcho(t, "via the keyring")
			if got := u.srv.Stats().Issued - before; got != 1 {
				t.Fatalf("%d contexts issued, want 1", got)
			}
			p.signal(t, os.Interrupt)
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit %d: %s", code, p.stderr.String())
			}
			px.checkNoSecret(t, u.password)
		})
	}

	if code, out, _ := runOnce(t, kr.Env, "", "creds", "delete", "orders"); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("creds delete: %d %q", code, out)
	}
	code, _, errOut = runOnce(t, kr.Env, "", "creds", "get", "orders")
	if code != 1 || !strings.Contains(errOut, "not found; store it with: scproxy creds set orders") {
		t.Fatalf("get after delete: %d %q", code, errOut)
	}
}

// Without a session bus, keyring commands fail at once with one line
// naming the alternatives, and start nothing.
func TestCredsWithoutSessionBus(t *testing.T) {
	marker := "SCPROXY_TEST_MARKER=" + t.Name() + strconv.FormatInt(time.Now().UnixNano(), 36)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + t.TempDir(), marker}
	for _, args := range [][]string{
		{"creds", "get", "orders"},
		{"run", "--upstream", "https://svc.example.com/Orders.svc", "--listen", freeAddr(t)},
	} {
		startAt := time.Now()
		code, out, errOut := runOnce(t, env, "", args...)
		took := time.Since(startAt)
		if code == 0 || out != "" {
			t.Fatalf("%v: exit %d, stdout %q", args, code, out)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: more than one line: %q", args, errOut)
		}
		for _, want := range []string{"no D-Bus session bus", "--password-file", "--password-env", "--systemd-credential"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: %q lacks %q", args, errOut, want)
			}
		}
		testkit.Budget(t, fmt.Sprintf("%v: time to refuse", args), took, 250*time.Millisecond)
	}
	if left := marked(t, marker); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// marked lists the processes whose environment holds marker: whatever
// a process started with it left behind.
func marked(t *testing.T, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var found []string
	for _, e := range entries {
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains(string(env), marker) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		found = append(found, e.Name()+" "+strings.TrimSpace(string(comm)))
	}
	return found
}
