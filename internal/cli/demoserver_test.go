package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/msgsec"
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
	if o.Listen != "127.0.0.1:0" || o.AllowRemote || o.PlainHTTP || o.Entropy != "auto" || o.Lifetime != 15*time.Hour || o.FailStatus != 503 || len(o.Versions) != 2 ||
		o.TimestampValidity != scserver.DefaultTimestampValidity {
		t.Errorf("defaults %+v", o)
	}

	o, err = parse(t, "--listen", "127.0.0.1:9443", "--plain-http", "--versions", "1.3", "--user", "bob:pw1", "--user", "carol:p:w",
		"--entropy", "server", "--cookie", "--renew-after-messages", "5", "--renew-after-key-age", "90s", "--delay", "2s",
		"--fail-first", "3", "--fail-status", "502", "--recycle-every", "10m", "--echo-action", "urn:a", "--max-bytes", "1024",
		"--timestamp-validity", "2m", "--skew", "30s")
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
		cfg.Limits.MaxBytes != 1024 || len(cfg.EchoActions) != 1 || cfg.TimestampValidity != 2*time.Minute || cfg.Skew != 30*time.Second {
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
		{"timestamp validity", []string{"--timestamp-validity", "0s"}},
		{"listen not host:port", []string{"--listen", "localhost"}},
		{"user-env unset", []string{"--user-env", "SCPROXY_TEST_UNSET_USER"}},
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

// TestDemoServerRuns starts the real command, reads the banner, checks the
// service answers over TLS with the printed CA, and stops it by context.
func TestDemoServerRuns(t *testing.T) {
	var errOut testkit.LogBuffer
	banner, cancel, done := runDemoServer(t, &errOut, "password", "--listen", "127.0.0.1:0", "--log-format", "json")
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
	stopCommand(t, cancel, done, ExitOK, &errOut)
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

// TestDemoServerListen: like run, demo-server listens beyond this host
// only with --allow-remote; without it a non-loopback address is a
// one-line usage error and exit status 2, before anything listens.
func TestDemoServerListen(t *testing.T) {
	tests := []struct {
		listen string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:0", false, true},
		{"[::1]:8443", false, true},
		{"localhost:8443", false, false}, // two addresses, one bound: refused
		{"0.0.0.0:8443", false, false},
		{":8443", false, false}, // every interface
		{"192.0.2.10:8443", false, false},
		{"[2001:db8::1]:8443", false, false},
		{"svc.example.com:8443", false, false},
		{"0.0.0.0:8443", true, true},
		{":8443", true, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/allow-remote=%t", tc.listen, tc.remote), func(t *testing.T) {
			args := []string{"--listen", tc.listen}
			if tc.remote {
				args = append(args, "--allow-remote")
			}
			o, err := parse(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := o.Config(zeroReader{})
			if tc.ok {
				if err != nil || cfg.Addr != tc.listen {
					t.Errorf("refused: %v (addr %q)", err, cfg.Addr)
				}
				return
			}
			want := "--allow-remote"
			if strings.HasPrefix(tc.listen, "localhost:") {
				want = "127.0.0.1:8443" // the address to give instead
			}
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want a one-line usage error naming %s", err, want)
			}
		})
	}
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"demo-server", "--listen", "0.0.0.0:0"}, Streams{Out: &out, Err: &errOut})
	if code != ExitUsage {
		t.Errorf("exit code %d, want %d", code, ExitUsage)
	}
	if lines := strings.Split(strings.TrimSpace(errOut.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "--allow-remote") {
		t.Errorf("stderr %q, want one line naming --allow-remote", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("a refused server printed a banner: %q", out.String())
	}
}

// TestDemoServerUserEnv: --user-env reads name:password from the
// environment, beside --user; an unset or malformed variable is a usage
// error naming the variable and never repeating its value.
func TestDemoServerUserEnv(t *testing.T) {
	env := map[string]string{"DEMO_BOB": "bob:s3cret pw", "DEMO_BAD": "no-colon-s3cret"}
	getenv := func(k string) string { return env[k] }
	o, err := parse(t, "--user", "carol:pw2", "--user-env", "DEMO_BOB")
	if err != nil {
		t.Fatal(err)
	}
	o.getenv = getenv
	cfg, err := o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 2 || cfg.Users["bob"] != "s3cret pw" || cfg.Users["carol"] != "pw2" {
		t.Errorf("users %v", cfg.Users)
	}
	for _, variable := range []string{"DEMO_BAD", "DEMO_UNSET"} {
		o, err := parse(t, "--user-env", variable)
		if err != nil {
			t.Fatal(err)
		}
		o.getenv = getenv
		_, err = o.Config(zeroReader{})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "$"+variable) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("$%s: %v, want a usage error naming the variable only", variable, err)
		}
	}
	// Through Main, the environment of Streams is what is read.
	var out testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo-server", "--user-env", "DEMO_BOB", "--log-format", "none"}, Streams{Out: &out, Err: &out, Getenv: getenv})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "password: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("exit code %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "user: bob\n") || strings.Contains(out.String(), "user: demo") {
		t.Errorf("banner %q, want user bob only", out.String())
	}
}

// runDemoServer starts `scproxy demo-server args` and returns its banner
// once printed up to the line last, the function that stops it and the
// channel of its exit code.
func runDemoServer(t *testing.T, errOut io.Writer, last string, args ...string) (map[string]string, context.CancelFunc, chan int) {
	t.Helper()
	var out testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"demo-server"}, args...), Streams{Out: &out, Err: errOut})
	}()
	banner := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for banner[last] == "" {
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
	return banner, cancel, done
}

// The flags of --profile message reach the server configuration, and are
// refused when they cannot work.
func TestDemoServerMessageFlags(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := o.Config(zeroReader{}); err != nil || cfg.Message != nil {
		t.Fatalf("the default profile has message security %+v (%v)", cfg.Message, err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc.key")
	if err := os.WriteFile(certFile, testkit.Server().CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, testkit.Server().KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = parse(t, "--profile", "message", "--message-bootstrap", "anonymous,username", "--server-cert", certFile, "--server-key", keyFile,
		"--algorithm-suite", "Basic128Sha256", "--signature-algorithm", "hmac-sha256", "--protection-order", "encrypt-sign", "--derived-keys=false", "--no-cancel")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Message
	if m == nil || m.Suite.Name != "Basic128Sha256" || m.SignatureMethod != dsig.HMACSHA256 || m.Order != msgsec.EncryptBeforeSign || m.DerivedKeys || !m.NoCancel ||
		len(m.Bootstraps) != 2 || m.Bootstraps[0] != scserver.BootstrapAnonymous || m.Bootstraps[1] != scserver.BootstrapUsername ||
		!m.Certificate.Equal(testkit.Server().Cert) || m.Key == nil {
		t.Errorf("message settings %+v", m)
	}
	o, _ = parse(t, "--profile", "message")
	if cfg, err = o.Config(zeroReader{}); err != nil || cfg.Message.Suite.Name != "Basic256" || cfg.Message.Order != msgsec.SignBeforeEncryptAndEncryptSignature || !cfg.Message.DerivedKeys {
		t.Errorf("message defaults %+v (%v)", cfg.Message, err)
	}

	for _, args := range [][]string{
		{"--profile", "wcf"},
		{"--server-cert", certFile, "--server-key", keyFile},
		{"--no-cancel"},
		{"--profile", "message", "--algorithm-suite", "Basic512"},
		{"--profile", "message", "--protection-order", "SignBeforeEncrypt"},
		{"--profile", "message", "--signature-algorithm", "rsa-sha1"},
		{"--profile", "message", "--message-bootstrap", "kerberos"},
		{"--profile", "message", "--message-bootstrap", "mutual10"},
		{"--profile", "message", "--server-cert", certFile},
		{"--profile", "message", "--server-cert", keyFile, "--server-key", certFile},
	} {
		o, err := parse(t, args...)
		if err == nil {
			_, err = o.Config(zeroReader{})
		}
		var ue *UsageError
		if err == nil {
			t.Errorf("%v: accepted", args)
		} else if !errors.As(err, &ue) && !strings.Contains(err.Error(), "--server-") {
			t.Errorf("%v: %v is not a usage error naming the flag", args, err)
		}
	}
}

// With --profile message the banner names the profile and the service
// certificate file, which holds the certificate the server decrypts with.
func TestDemoServerMessageBanner(t *testing.T) {
	o, err := parse(t, "--profile", "message", "--message-bootstrap", "anonymous", "--no-cancel", "--plain-http")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out bytes.Buffer
	printBanner(&out, srv, cfg)
	banner := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			banner[k] = v
		}
	}
	if banner["profile"] != "message (Basic256, SignBeforeEncryptAndEncryptSignature, derived keys true, bootstraps anonymous)" || !strings.HasPrefix(banner["cancel"], "not expected") {
		t.Errorf("banner:\n%s", out.String())
	}
	pemBytes, err := os.ReadFile(banner["server-cert"])
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := srv.ServiceCertificate()
	if block, _ := pem.Decode(pemBytes); block == nil || !bytes.Equal(block.Bytes, cert.Raw) {
		t.Errorf("%s does not hold the service certificate", banner["server-cert"])
	}
}

// demo-server --profile message over plain HTTP: the banner names the
// service certificate, and a request that is not signed and encrypted
// gets a fault saying so.
func TestDemoServerRunsMessage(t *testing.T) {
	var errOut testkit.LogBuffer
	banner, cancel, done := runDemoServer(t, &errOut, "server-cert", "--profile", "message", "--plain-http", "--message-bootstrap", "anonymous", "--log-format", "json")
	if !strings.HasPrefix(banner["url"], "http://127.0.0.1:") || !strings.HasPrefix(banner["profile"], "message (Basic256") {
		t.Errorf("banner %v", banner)
	}
	if _, err := os.ReadFile(banner["server-cert"]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(banner["url"], "application/soap+xml; charset=utf-8",
		strings.NewReader(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x/></s:Body></s:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte("must be signed and encrypted")) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
	stopCommand(t, cancel, done, ExitOK, &errOut)
	if _, err := os.Stat(banner["server-cert"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary service certificate left after stop: %v", err)
	}
}
