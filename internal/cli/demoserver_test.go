package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/wssc"
)

// parse runs the demo-server command line args and returns the options
// it would run with.
func parse(t *testing.T, args ...string) (*DemoServerOptions, error) {
	t.Helper()
	var got *DemoServerOptions
	var out bytes.Buffer
	root := NewRootCmd(Streams{Out: &out, Err: &out})
	for _, c := range root.Commands() {
		if c.Name() == "demo-server" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(NewCmdDemoServer(Streams{Out: &out, Err: &out}, func(_ context.Context, o *DemoServerOptions) error {
		got = o
		return nil
	}))
	root.SetArgs(append([]string{"demo-server"}, args...))
	err := root.Execute()
	return got, err
}

func TestDemoServerFlags(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:0" || o.PlainHTTP || o.Entropy != "auto" || o.Lifetime != 15*time.Hour || o.FailStatus != 503 || len(o.Versions) != 2 {
		t.Errorf("defaults %+v", o)
	}

	o, err = parse(t, "--listen", "127.0.0.1:9443", "--plain-http", "--versions", "1.3", "--user", "bob:pw1", "--user", "carol:p:w",
		"--entropy", "server", "--cookie", "--renew-after-messages", "5", "--renew-after-key-age", "90s", "--delay", "2s",
		"--fail-first", "3", "--fail-status", "502", "--recycle-every", "10m", "--echo-action", "urn:a", "--max-bytes", "1024")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9443" || !cfg.PlainHTTP || len(cfg.Versions) != 1 || cfg.Versions[0] != wssc.V1_3 ||
		cfg.Users["bob"] != "pw1" || cfg.Users["carol"] != "p:w" || cfg.Entropy != scserver.EntropyServer || !cfg.Cookie ||
		cfg.Script != (scserver.Script{RenewAfterMessages: 5, RenewAfterKeyAge: 90 * time.Second, Delay: 2 * time.Second}) ||
		cfg.Limits.MaxBytes != 1024 || len(cfg.EchoActions) != 1 {
		t.Errorf("config %+v", cfg)
	}
	if o.FailFirst != 3 || o.FailStatus != 502 || o.RecycleEvery != 10*time.Minute {
		t.Errorf("options %+v", o)
	}

	o, _ = parse(t)
	cfg, err = o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 1 || cfg.Users[demoUser] != "AAAAAAAAAAAAAAAA" {
		t.Errorf("demo user %v", cfg.Users)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestDemoServerBadFlags(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--bogus"}},
		{"bad duration", []string{"--lifetime", "soon"}},
		{"argument", []string{"extra"}},
		{"version", []string{"--versions", "2.0"}},
		{"entropy", []string{"--entropy", "both"}},
		{"user without password", []string{"--user", "bob"}},
		{"client CA not PEM", []string{"--client-ca", notPEM}},
		{"client CA missing", []string{"--client-ca", filepath.Join(dir, "none.pem")}},
		{"fail status", []string{"--fail-status", "42"}},
		{"negative delay", []string{"--delay", "-1s"}},
		{"log format", []string{"--log-format", "xml"}},
		{"max bytes", []string{"--max-bytes", "0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			if err == nil {
				_, err = o.Config(zeroReader{})
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// Main maps a command-line error to the usage exit code.
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"demo-server", "--bogus"}, Streams{Out: &out, Err: &out}); code != ExitUsage {
		t.Errorf("exit code %d, want %d (%s)", code, ExitUsage, out.String())
	}
	if code := Main(context.Background(), []string{"demo-server", "--versions", "9"}, Streams{Out: &out, Err: &out}); code != ExitUsage {
		t.Errorf("exit code %d for a bad version", code)
	}
	if code := Main(context.Background(), []string{"nonsense"}, Streams{Out: &out, Err: &out}); code != ExitUsage {
		t.Errorf("exit code %d for an unknown command", code)
	}
}

// lockedBuffer collects the banner while the server runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoServerRuns starts the real command, reads the banner, checks the
// service answers over TLS with the printed CA, and stops it by context.
func TestDemoServerRuns(t *testing.T) {
	var out, errOut lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo-server", "--listen", "127.0.0.1:0", "--log-format", "json"}, Streams{Out: &out, Err: &errOut})
	}()
	banner := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for banner["password"] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
				banner[k] = v
			}
		}
	}
	if banner["user"] != demoUser || !strings.HasPrefix(banner["url"], "https://127.0.0.1:") || banner["versions"] != "February 2005, 1.3" {
		t.Errorf("banner %v", banner)
	}
	pemBytes, err := os.ReadFile(banner["ca-file"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Post(banner["url"], "application/soap+xml; charset=utf-8", strings.NewReader("not soap"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte("Fault")) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit code %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not stop with its context")
	}
	if !strings.Contains(errOut.String(), `"msg":"request"`) {
		t.Errorf("no request log line: %s", errOut.String())
	}
	if strings.Contains(errOut.String(), banner["password"]) {
		t.Error("the log repeats the password")
	}
	if _, err := os.Stat(banner["ca-file"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary CA file left after stop: %v", err)
	}
}
