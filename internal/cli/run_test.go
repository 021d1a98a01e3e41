package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	up "github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// canary is the password of every test; no output may contain it. It needs
// no escaping in a URL, so a URL printed with its credentials shows it.
const canary = "Canary-pw-3f9x"

// Pieces of command lines.
var (
	upstream = []string{"--upstream", "https://svc.example.com/Service.svc"}
	userPW   = []string{"--username", "alice", "--password-env", "PW"}
	baseEnv  = map[string]string{"PW": canary}
)

func cmdline(parts ...[]string) []string { return slices.Concat(parts...) }

// runResult is what `scproxy run` did with a command line.
type runResult struct {
	cfg      *outbound.Config // nil when the proxy was not started
	out, err bytes.Buffer
	runErr   error
}

// runCmd runs `scproxy run args` in environment env with a proxy that
// only records its configuration.
func runCmd(t *testing.T, env map[string]string, args ...string) *runResult {
	t.Helper()
	r := &runResult{}
	s := Streams{Out: &r.out, Err: &r.err, Getenv: mapEnv(env)}
	root := NewRootCmd(s)
	for _, c := range root.Commands() {
		if c.Name() == "run" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(NewCmdRun(s, func(_ context.Context, cfg *outbound.Config) error {
		r.cfg = cfg
		return nil
	}))
	root.SetArgs(append([]string{"run"}, args...))
	r.runErr = root.Execute()
	return r
}

// mustConfig runs args and returns the configuration, failing on error.
func mustConfig(t *testing.T, env map[string]string, args ...string) (*outbound.Config, *runResult) {
	t.Helper()
	r := runCmd(t, env, args...)
	if r.runErr != nil {
		t.Fatalf("run %q: %v", args, r.runErr)
	}
	if r.cfg == nil {
		t.Fatal("the proxy was not started")
	}
	return r.cfg, r
}

// writeFile writes content to a new file of dir with mode perm.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return p
}

// newCA returns the test kit's CA certificate and its PEM encoding.
func newCA(t *testing.T) (*x509.Certificate, []byte) {
	t.Helper()
	return testkit.CA().Cert, testkit.CA().CertPEM
}

func TestRunDefaults(t *testing.T) {
	cfg, r := mustConfig(t, baseEnv, cmdline(upstream, userPW)...)
	want := session.Username{User: "alice", Password: creds.NewSecret(canary)}
	switch {
	case cfg.Listen != "127.0.0.1:8780" || cfg.AllowRemote:
		t.Errorf("listen %q allow-remote %v", cfg.Listen, cfg.AllowRemote)
	case len(cfg.Routes) != 1 || cfg.Routes[0].Prefix != "/" || cfg.Routes[0].Upstream.String() != upstream[1]:
		t.Errorf("routes %v", cfg.Routes)
	case cfg.Security != outbound.SecurityContext || cfg.SC != wssc.Feb2005:
		t.Errorf("security %v version %v", cfg.Security, cfg.SC)
	case cfg.Bootstrap != want:
		t.Errorf("bootstrap %v", cfg.Bootstrap)
	case cfg.Entropy != wssc.CombinedEntropy || cfg.KeySize != 256 || cfg.SignatureMethod != dsig.HMACSHA1:
		t.Errorf("entropy %v key size %d signature %s", cfg.Entropy, cfg.KeySize, cfg.SignatureMethod)
	case cfg.SOAP != 0 || cfg.Addressing != (outbound.Addressing{Auto: true}):
		t.Errorf("soap %v addressing %+v", cfg.SOAP, cfg.Addressing)
	case cfg.RootCAs != nil:
		t.Error("RootCAs set without --ca-file")
	case cfg.MaxBody != 4194304 || cfg.EstablishTimeout != session.DefaultEstablishTimeout || cfg.UpstreamTimeout != up.DefaultTimeout:
		t.Errorf("max body %d timeouts %v %v", cfg.MaxBody, cfg.EstablishTimeout, cfg.UpstreamTimeout)
	case cfg.Logger == nil || cfg.Logger.Enabled(context.Background(), -4) || !cfg.Logger.Enabled(context.Background(), 0):
		t.Error("logger is not at level info")
	}
	if r.out.Len() != 0 || r.err.Len() != 0 {
		t.Errorf("output %q %q", r.out.String(), r.err.String())
	}
}

func TestRunLifecycleFlags(t *testing.T) {
	cfg, _ := mustConfig(t, baseEnv, cmdline(upstream, userPW)...)
	if cfg.Renewal.Interval != 10*time.Hour || cfg.RenewMode != session.RenewInPlace || cfg.Rollover != 5*time.Minute ||
		cfg.ShutdownTimeout != 30*time.Second || cfg.KeepContexts {
		t.Errorf("defaults: interval %v mode %v rollover %v shutdown %v keep %v", cfg.Renewal.Interval, cfg.RenewMode, cfg.Rollover, cfg.ShutdownTimeout, cfg.KeepContexts)
	}
	cfg, _ = mustConfig(t, baseEnv, cmdline(upstream, userPW, []string{"--renew-interval", "2h", "--renew-mode", "reissue",
		"--rollover", "0", "--shutdown-timeout", "5s", "--cancel-on-shutdown=false"})...)
	if cfg.Renewal.Interval != 2*time.Hour || cfg.RenewMode != session.Reissue || cfg.Rollover >= 0 ||
		cfg.ShutdownTimeout != 5*time.Second || !cfg.KeepContexts {
		t.Errorf("set: interval %v mode %v rollover %v shutdown %v keep %v", cfg.Renewal.Interval, cfg.RenewMode, cfg.Rollover, cfg.ShutdownTimeout, cfg.KeepContexts)
	}
}

func TestRunFlags(t *testing.T) {
	dir := t.TempDir()
	caCert, caPEM := newCA(t)
	caFile := writeFile(t, dir, "ca.pem", string(caPEM), 0o644)
	crlfFile := writeFile(t, dir, "crlf", canary+"\r\n", 0o600)
	twoNL := writeFile(t, dir, "two-newlines", canary+"\n\n", 0o600)
	bare := writeFile(t, dir, "bare", canary, 0o600)
	fileCreds := func(f string) []string { return []string{"--username", "alice", "--password-file", f} }

	tests := []struct {
		name  string
		args  []string
		check func(*outbound.Config) bool
	}{
		{"listen remote", cmdline(upstream, userPW, []string{"--listen", "0.0.0.0:9000", "--allow-remote"}),
			func(c *outbound.Config) bool { return c.Listen == "0.0.0.0:9000" && c.AllowRemote }},
		{"listen IPv6 loopback", cmdline(upstream, userPW, []string{"--listen", "[::1]:9000"}),
			func(c *outbound.Config) bool { return c.Listen == "[::1]:9000" && !c.AllowRemote }},
		{"routes", cmdline(userPW, []string{"--route", "/a=https://a.example/A.svc", "--route", "/b/c=http://b.example:8080/B", "--allow-plain-http"}),
			func(c *outbound.Config) bool {
				return len(c.Routes) == 2 && c.Routes[0].Prefix == "/a" && c.Routes[0].Upstream.String() == "https://a.example/A.svc" &&
					c.Routes[1].Prefix == "/b/c" && c.Routes[1].Upstream.Host == "b.example:8080"
			}},
		{"upstream and a route", cmdline(upstream, userPW, []string{"--route", "/x=https://x.example/"}),
			func(c *outbound.Config) bool {
				return len(c.Routes) == 2 && c.Routes[0].Prefix == "/" && c.Routes[1].Prefix == "/x"
			}},
		{"security none needs no credential", cmdline(upstream, []string{"--security", "none"}),
			func(c *outbound.Config) bool { return c.Security == outbound.SecurityNone && c.Bootstrap == nil }},
		{"plain forwarding to plain http", cmdline([]string{"--upstream", "http://svc.example/E.svc", "--security", "none"}),
			func(c *outbound.Config) bool { return c.Routes[0].Upstream.Scheme == "http" && !c.AllowPlainHTTP }},
		{"sc-version 1.3", cmdline(upstream, userPW, []string{"--sc-version", "1.3"}),
			func(c *outbound.Config) bool { return c.SC == wssc.V1_3 }},
		{"sc-version 2005-02", cmdline(upstream, userPW, []string{"--sc-version", "2005-02"}),
			func(c *outbound.Config) bool { return c.SC == wssc.Feb2005 }},
		{"password digest", cmdline(upstream, userPW, []string{"--bootstrap", "username", "--password-digest"}),
			func(c *outbound.Config) bool {
				return c.Bootstrap == session.Username{User: "alice", Password: creds.NewSecret(canary), Digest: true}
			}},
		{"password file with CRLF", cmdline(upstream, fileCreds(crlfFile)),
			func(c *outbound.Config) bool { return c.Bootstrap.(session.Username).Password.Reveal() == canary }},
		{"password file loses one newline only", cmdline(upstream, fileCreds(twoNL)),
			func(c *outbound.Config) bool { return c.Bootstrap.(session.Username).Password.Reveal() == canary+"\n" }},
		{"password file without newline", cmdline(upstream, fileCreds(bare)),
			func(c *outbound.Config) bool { return c.Bootstrap.(session.Username).Password.Reveal() == canary }},
		{"ca-file joins the roots", cmdline(upstream, userPW, []string{"--ca-file", caFile}),
			func(c *outbound.Config) bool {
				_, err := caCert.Verify(x509.VerifyOptions{Roots: c.RootCAs})
				return c.RootCAs != nil && err == nil
			}},
		{"soap 1.1", cmdline(upstream, userPW, []string{"--soap-version", "1.1"}),
			func(c *outbound.Config) bool { return c.SOAP == soap.V11 }},
		{"soap 1.2", cmdline(upstream, userPW, []string{"--soap-version", "1.2"}),
			func(c *outbound.Config) bool { return c.SOAP == soap.V12 }},
		{"soap auto", cmdline(upstream, userPW, []string{"--soap-version", "auto"}),
			func(c *outbound.Config) bool { return c.SOAP == 0 }},
		{"addressing none", cmdline(upstream, userPW, []string{"--addressing", "none"}),
			func(c *outbound.Config) bool { return c.Addressing == outbound.Addressing{Version: wsa.None} }},
		{"addressing 2004-08", cmdline(upstream, userPW, []string{"--addressing", "2004-08"}),
			func(c *outbound.Config) bool { return c.Addressing == outbound.Addressing{Version: wsa.V200408} }},
		{"addressing 1.0", cmdline(upstream, userPW, []string{"--addressing", "1.0"}),
			func(c *outbound.Config) bool { return c.Addressing == outbound.Addressing{Version: wsa.V10} }},
		{"entropy client", cmdline(upstream, userPW, []string{"--entropy", "client"}),
			func(c *outbound.Config) bool { return c.Entropy == wssc.ClientEntropy }},
		{"entropy server", cmdline(upstream, userPW, []string{"--entropy", "server"}),
			func(c *outbound.Config) bool { return c.Entropy == wssc.ServerEntropy }},
		{"key size", cmdline(upstream, userPW, []string{"--key-size", "128"}),
			func(c *outbound.Config) bool { return c.KeySize == 128 }},
		{"hmac-sha256", cmdline(upstream, userPW, []string{"--signature-algorithm", "hmac-sha256"}),
			func(c *outbound.Config) bool { return c.SignatureMethod == dsig.HMACSHA256 }},
		{"hmac-sha1", cmdline(upstream, userPW, []string{"--signature-algorithm", "hmac-sha1"}),
			func(c *outbound.Config) bool { return c.SignatureMethod == dsig.HMACSHA1 }},
		{"derived keys", cmdline(upstream, userPW, []string{"--derived-keys"}),
			func(c *outbound.Config) bool { return c.DerivedKeys }},
		{"no derived keys by default", cmdline(upstream, userPW),
			func(c *outbound.Config) bool { return !c.DerivedKeys }},
		{"max body bytes", cmdline(upstream, userPW, []string{"--max-body", "2048"}),
			func(c *outbound.Config) bool { return c.MaxBody == 2048 }},
		{"max body KiB", cmdline(upstream, userPW, []string{"--max-body", "64KiB"}),
			func(c *outbound.Config) bool { return c.MaxBody == 64<<10 }},
		{"max body MiB", cmdline(upstream, userPW, []string{"--max-body=8MiB"}),
			func(c *outbound.Config) bool { return c.MaxBody == 8<<20 }},
		{"timeouts", cmdline(upstream, userPW, []string{"--establish-timeout", "5s", "--upstream-timeout", "1m30s"}),
			func(c *outbound.Config) bool {
				return c.EstablishTimeout == 5*time.Second && c.UpstreamTimeout == 90*time.Second
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := mustConfig(t, baseEnv, tc.args...)
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestRunLogger(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     string // in the output of a debug and a warn record
		wantNot  string
		noOutput bool
	}{
		{"text info by default", nil, "level=WARN msg=probe-warn", "probe-debug", false},
		{"json debug", []string{"--log-format", "json", "--log-level", "debug"}, `"msg":"probe-debug"`, "level=", false},
		{"error hides warn", []string{"--log-level", "error"}, "", "probe", true},
		{"warn keeps warn", []string{"--log-level", "warn"}, "probe-warn", "probe-debug", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, r := mustConfig(t, baseEnv, cmdline(upstream, userPW, tc.args)...)
			cfg.Logger.Debug("probe-debug")
			cfg.Logger.Warn("probe-warn")
			got := r.err.String()
			if tc.noOutput && got != "" || !strings.Contains(got, tc.want) || strings.Contains(got, tc.wantNot) {
				t.Errorf("stderr %q, want %q and not %q", got, tc.want, tc.wantNot)
			}
			if r.out.Len() != 0 {
				t.Errorf("log on stdout: %q", r.out.String())
			}
		})
	}
}

func TestRunEnv(t *testing.T) {
	withPW := func(m map[string]string) map[string]string {
		m["PW"] = canary
		return m
	}
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(*outbound.Config) bool
	}{
		{"everything from the environment", withPW(map[string]string{
			"SCPROXY_UPSTREAM": "https://env.example/S.svc", "SCPROXY_USERNAME": "bob", "SCPROXY_PASSWORD_ENV": "PW",
			"SCPROXY_SC_VERSION": "1.3", "SCPROXY_LISTEN": "127.0.0.2:9", "SCPROXY_PASSWORD_DIGEST": "true",
			"SCPROXY_MAX_BODY": "1MiB", "SCPROXY_UPSTREAM_TIMEOUT": "10s", "SCPROXY_ENTROPY": "server",
		}), nil, func(c *outbound.Config) bool {
			return c.Routes[0].Upstream.Host == "env.example" && c.SC == wssc.V1_3 && c.Listen == "127.0.0.2:9" &&
				c.Bootstrap == session.Username{User: "bob", Password: creds.NewSecret(canary), Digest: true} &&
				c.MaxBody == 1<<20 && c.UpstreamTimeout == 10*time.Second && c.Entropy == wssc.ServerEntropy
		}},
		{"flag beats environment", withPW(map[string]string{"SCPROXY_SC_VERSION": "1.3", "SCPROXY_USERNAME": "bob"}),
			cmdline(upstream, userPW, []string{"--sc-version", "2005-02"}),
			func(c *outbound.Config) bool {
				return c.SC == wssc.Feb2005 && c.Bootstrap.(session.Username).User == "alice"
			}},
		{"environment beats default", withPW(map[string]string{"SCPROXY_SECURITY": "none"}), upstream,
			func(c *outbound.Config) bool { return c.Security == outbound.SecurityNone }},
		{"routes from the environment", withPW(map[string]string{"SCPROXY_ROUTE": "/a=https://a.example/A,/b=https://b.example/B"}), userPW,
			func(c *outbound.Config) bool {
				return len(c.Routes) == 2 && c.Routes[0].Prefix == "/a" && c.Routes[1].Upstream.Host == "b.example"
			}},
		{"route flags replace the environment list", withPW(map[string]string{"SCPROXY_ROUTE": "/a=https://a.example/A,/b=https://b.example/B"}),
			cmdline(userPW, []string{"--route", "/c=https://c.example/C"}),
			func(c *outbound.Config) bool { return len(c.Routes) == 1 && c.Routes[0].Prefix == "/c" }},
		{"upstream from the environment with route flags", withPW(map[string]string{"SCPROXY_UPSTREAM": "https://env.example/"}),
			cmdline(userPW, []string{"--route", "/c=https://c.example/C"}),
			func(c *outbound.Config) bool {
				return len(c.Routes) == 2 && c.Routes[0].Prefix == "/" && c.Routes[1].Prefix == "/c"
			}},
		{"bool flag false beats environment true", withPW(map[string]string{"SCPROXY_PASSWORD_DIGEST": "true"}),
			cmdline(upstream, userPW, []string{"--password-digest=false"}),
			func(c *outbound.Config) bool { return !c.Bootstrap.(session.Username).Digest }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := mustConfig(t, tc.env, tc.args...)
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestRunInvalid checks that every bad value is refused before the proxy
// starts, as a usage error (exit code 2 through Main) on one line naming
// the flag, and that no output carries the password.
func TestRunInvalid(t *testing.T) {
	dir := t.TempDir()
	shared := writeFile(t, dir, "shared", canary+"\n", 0o644)
	groupOnly := writeFile(t, dir, "group", canary+"\n", 0o640)
	empty := writeFile(t, dir, "empty", "\n", 0o600)
	good := writeFile(t, dir, "good", canary+"\n", 0o600)
	notPEM := writeFile(t, dir, "not.pem", "no certificate here", 0o644)
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // in the message
	}{
		{"sc-version", baseEnv, cmdline(upstream, userPW, []string{"--sc-version", "1.2"}), []string{`--sc-version "1.2": want 2005-02 or 1.3`}},
		{"security", baseEnv, cmdline(upstream, userPW, []string{"--security", "tls"}), []string{"--security", "context or none"}},
		{"plain http upstream", baseEnv, cmdline(userPW, []string{"--upstream", "http://svc.example/Echo.svc"}), []string{`--upstream: upstream "http://svc.example/Echo.svc" is plain http`, "--allow-plain-http"}},
		{"plain http route", baseEnv, cmdline(userPW, []string{"--route", "/a=https://a.example/", "--route", "/b=http://b.example/B"}), []string{`--route /b: upstream "http://b.example/B" is plain http`}},
		{"bootstrap certificate without files", baseEnv, cmdline(upstream, userPW, []string{"--bootstrap", "certificate"}), []string{"--cert-file", "--pkcs12-file"}},
		{"bootstrap unknown", baseEnv, cmdline(upstream, userPW, []string{"--bootstrap", "saml"}), []string{"--bootstrap", "username", "certificate"}},
		{"soap-version", baseEnv, cmdline(upstream, userPW, []string{"--soap-version", "1.0"}), []string{"--soap-version", "auto, 1.1 or 1.2"}},
		{"addressing", baseEnv, cmdline(upstream, userPW, []string{"--addressing", "2005"}), []string{"--addressing", "2004-08 or 1.0"}},
		{"entropy", baseEnv, cmdline(upstream, userPW, []string{"--entropy", "both"}), []string{"--entropy", "combined, client or server"}},
		{"signature-algorithm", baseEnv, cmdline(upstream, userPW, []string{"--signature-algorithm", "rsa-sha1"}), []string{"--signature-algorithm", "hmac-sha256"}},
		{"key-size small", baseEnv, cmdline(upstream, userPW, []string{"--key-size", "64"}), []string{"--key-size 64"}},
		{"key-size odd", baseEnv, cmdline(upstream, userPW, []string{"--key-size", "300"}), []string{"--key-size 300", "multiple of 8"}},
		{"key-size not a number", baseEnv, cmdline(upstream, userPW, []string{"--key-size", "big"}), []string{"--key-size"}},
		{"max-body small", baseEnv, cmdline(upstream, userPW, []string{"--max-body", "100"}), []string{"--max-body 100", "1024"}},
		{"max-body suffix", baseEnv, cmdline(upstream, userPW, []string{"--max-body", "4QiB"}), []string{"--max-body", "KiB or MiB"}},
		{"max-body negative", baseEnv, cmdline(upstream, userPW, []string{"--max-body=-1"}), []string{"--max-body"}},
		{"establish-timeout zero", baseEnv, cmdline(upstream, userPW, []string{"--establish-timeout", "0s"}), []string{"--establish-timeout"}},
		{"upstream-timeout not a duration", baseEnv, cmdline(upstream, userPW, []string{"--upstream-timeout", "soon"}), []string{"--upstream-timeout"}},
		{"log-level", baseEnv, cmdline(upstream, userPW, []string{"--log-level", "trace"}), []string{"--log-level", "debug, info, warn or error"}},
		{"renew-mode", baseEnv, cmdline(upstream, userPW, []string{"--renew-mode", "amend"}), []string{"--renew-mode", "renew or reissue"}},
		{"renew-interval short", baseEnv, cmdline(upstream, userPW, []string{"--renew-interval", "10s"}), []string{"--renew-interval 10s", "at least 1m"}},
		{"rollover negative", baseEnv, cmdline(upstream, userPW, []string{"--rollover=-1m"}), []string{"--rollover"}},
		{"shutdown-timeout zero", baseEnv, cmdline(upstream, userPW, []string{"--shutdown-timeout", "0s"}), []string{"--shutdown-timeout"}},
		{"log-format", baseEnv, cmdline(upstream, userPW, []string{"--log-format", "xml"}), []string{"--log-format", "text or json"}},
		{"no upstream", baseEnv, userPW, []string{"--upstream", "--route"}},
		{"upstream scheme", baseEnv, cmdline(userPW, []string{"--upstream", "ftp://svc.example/"}), []string{"--upstream", "https://"}},
		{"upstream relative", baseEnv, cmdline(userPW, []string{"--upstream", "svc.example/S.svc"}), []string{"--upstream", "absolute"}},
		{"upstream no host", baseEnv, cmdline(userPW, []string{"--upstream", "https:///S.svc"}), []string{"--upstream", "no host"}},
		{"upstream with credentials", baseEnv, cmdline(userPW, []string{"--upstream", "https://alice:" + canary + "@svc.example/"}), []string{"--upstream", "credentials"}},
		{"upstream unparsable", baseEnv, cmdline(userPW, []string{"--upstream", "https://alice:" + canary + "@svc example/%zz"}), []string{"--upstream"}},
		{"upstream fragment", baseEnv, cmdline(userPW, []string{"--upstream", "https://svc.example/#x"}), []string{"--upstream", "fragment"}},
		{"route without =", baseEnv, cmdline(userPW, []string{"--route", "https://alice:" + canary + "@svc.example/"}), []string{"--route", "/path=URL"}},
		{"route path", baseEnv, cmdline(userPW, []string{"--route", "a=https://svc.example/"}), []string{"--route", "start with /"}},
		{"route path a URL, its own URL unparsable", baseEnv, cmdline(userPW, []string{"--route", "https://alice:" + canary + "@svc.example/a=%zz"}), []string{"--route", "not a URL"}},
		{"route path a URL with credentials", baseEnv, cmdline(userPW, []string{"--route", "https://alice:" + canary + "@svc.example/?a=https://svc.example/"}), []string{"--route", "start with /"}},
		{"route URL", baseEnv, cmdline(userPW, []string{"--route", "/a=svc.example"}), []string{"--route /a"}},
		{"route / with --upstream", baseEnv, cmdline(upstream, userPW, []string{"--route", "/=https://other.example/"}), []string{"--route /", "--upstream"}},
		{"route twice", baseEnv, cmdline(userPW, []string{"--route", "/a=https://a.example/", "--route", "/a=https://b.example/"}), []string{"--route", "twice"}},
		{"listen remote", baseEnv, cmdline(upstream, userPW, []string{"--listen", "0.0.0.0:8780"}), []string{"--listen", "--allow-remote"}},
		{"listen all interfaces", baseEnv, cmdline(upstream, userPW, []string{"--listen", ":8780"}), []string{"--listen", "--allow-remote"}},
		{"listen not host:port", baseEnv, cmdline(upstream, userPW, []string{"--listen", "8780"}), []string{"--listen", "host:port"}},
		{"listen localhost", baseEnv, cmdline(upstream, userPW, []string{"--listen", "localhost:8780"}), []string{"--listen", "127.0.0.1:8780", "[::1]:8780"}},
		{"max body in flight under max body", baseEnv, cmdline(upstream, userPW, []string{"--max-body", "8MiB", "--max-body-in-flight", "4MiB"}), []string{"--max-body-in-flight", "largest body"}},
		{"no username", baseEnv, cmdline(upstream, []string{"--password-env", "PW"}), []string{"--username"}},
		{"no password", baseEnv, cmdline(upstream, []string{"--username", "alice"}), []string{"--password-env", "--password-file"}},
		{"two passwords", baseEnv, cmdline(upstream, userPW, []string{"--password-file", good}), []string{"--password-env", "--password-file", "only one"}},
		{"password-env unset", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-env", "NOPE"}), []string{"--password-env", "NOPE", "not set"}},
		{"password-env given the password", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-env", canary}), []string{"--password-env", "name of an environment variable"}},
		{"password-env empty", map[string]string{"PW": ""}, cmdline(upstream, userPW), []string{"--password-env", "PW"}},
		{"password-file readable by all", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-file", shared}), []string{"--password-file", "chmod 600 " + shared}},
		{"password-file readable by group", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-file", groupOnly}), []string{"--password-file", "chmod 600 " + groupOnly}},
		{"password-file empty", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-file", empty}), []string{"--password-file", "empty"}},
		{"password-file missing", baseEnv, cmdline(upstream, []string{"--username", "alice", "--password-file", missing}), []string{"--password-file", missing}},
		{"ca-file missing", baseEnv, cmdline(upstream, userPW, []string{"--ca-file", missing}), []string{"--ca-file", missing}},
		{"ca-file not PEM", baseEnv, cmdline(upstream, userPW, []string{"--ca-file", notPEM}), []string{"--ca-file", notPEM, "no PEM certificate"}},
		{"environment bad value", map[string]string{"PW": canary, "SCPROXY_KEY_SIZE": "big"}, cmdline(upstream, userPW), []string{"$SCPROXY_KEY_SIZE", "--key-size"}},
		{"environment bad choice", map[string]string{"PW": canary, "SCPROXY_SC_VERSION": "1.2"}, cmdline(upstream, userPW), []string{"--sc-version", "2005-02 or 1.3"}},
		{"environment route conflict", map[string]string{"PW": canary, "SCPROXY_ROUTE": "/=https://a.example/"}, cmdline(upstream, userPW), []string{"--route /", "--upstream"}},
		{"unknown flag", baseEnv, cmdline(upstream, userPW, []string{"--password", canary}), []string{"--password"}},
		{"argument", baseEnv, cmdline(upstream, userPW, []string{"extra"}), []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.HasPrefix(tc.name, "password-file readable") {
				t.Skip("no permission bits on Windows")
			}
			r := runCmd(t, tc.env, tc.args...)
			if r.cfg != nil {
				t.Fatalf("the proxy started with %+v", r.cfg)
			}
			var ue *UsageError
			if !errors.As(r.runErr, &ue) && !isCobraUsage(r.runErr) {
				t.Errorf("error %v is not a usage error", r.runErr)
			}

			// Through Main; the context is already over so that a command
			// line accepted by mistake cannot leave a proxy running.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out, errOut bytes.Buffer
			code := Main(ctx, append([]string{"run"}, tc.args...), Streams{Out: &out, Err: &errOut, Getenv: mapEnv(tc.env)})
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d", code, ExitUsage)
			}
			msg := errOut.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr is not one line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr %q does not contain %q", msg, w)
				}
			}
			for _, where := range []string{msg, out.String(), r.err.String(), r.out.String(), fmt.Sprint(r.runErr)} {
				if strings.Contains(where, canary) {
					t.Errorf("the password is in the output: %q", where)
				}
			}
		})
	}
}

// TestRunPasswordNotPrinted checks that an accepted configuration, printed
// or logged, does not show the password either.
func TestRunPasswordNotPrinted(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			cfg, r := mustConfig(t, baseEnv, cmdline(upstream, userPW, []string{"--log-format", format})...)
			cfg.Logger.Info("starting", "bootstrap", cfg.Bootstrap.Kind(), "user", fmt.Sprint(cfg.Bootstrap))
			shown := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg.Bootstrap, cfg.Bootstrap)
			for _, where := range []string{shown, r.out.String(), r.err.String()} {
				if strings.Contains(where, canary) {
					t.Errorf("the password is shown: %q", where)
				}
			}
		})
	}
}

func TestRunHelpNamesEnvironment(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"run", "--help"}, Streams{Out: &out, Err: &errOut}); code != ExitOK {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	for _, w := range []string{"SCPROXY_SC_VERSION for --sc-version", "[$SCPROXY_LISTEN]", "[$SCPROXY_PASSWORD_FILE]", "comma-separated"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help does not mention %q", w)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"4194304", 4194304, true},
		{"1KiB", 1024, true},
		{"3 MiB", 3 << 20, true},
		{"", 0, false},
		{"1kb", 0, false},
		{"1.5MiB", 0, false},
		{"-5", 0, false},
		{"99999999999999999MiB", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var b byteSize
			err := b.Set(tc.in)
			if (err == nil) != tc.ok || int64(b) != tc.want {
				t.Errorf("Set(%q) = %d, %v", tc.in, b, err)
			}
		})
	}
}

// TestRunStartsProxy runs the real command through Main: it serves until
// its context ends and exits 0, and a failure to listen is a run error
// (exit 1), not a usage error.
func TestRunStartsProxy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		listen string
		want   int
	}{
		{"serves until cancelled", "127.0.0.1:0", ExitOK},
		{"address in use", busy.Addr().String(), ExitError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut testkit.LogBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- Main(ctx, []string{"run", "--listen", tc.listen, "--security", "none", "--upstream", "http://127.0.0.1:9/"},
					Streams{Out: &out, Err: &errOut, Getenv: mapEnv(nil)})
			}()
			select {
			case code := <-done: // failed at once
				if code != tc.want {
					t.Errorf("exit code %d, want %d: %s", code, tc.want, errOut.String())
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
			stopCommand(t, cancel, done, tc.want, &errOut)
		})
	}
}

// TestConfigFlagsExist: every flag the table names a configuration's
// settings by is a flag of run, so a *setting.Error always reaches the user
// as a flag they can type.
func TestConfigFlagsExist(t *testing.T) {
	flags := NewCmdRun(Streams{}, nil).Flags()
	for field, names := range configFlags {
		for _, name := range strings.Split(names, " or ") {
			if flags.Lookup(strings.TrimPrefix(name, "--")) == nil {
				t.Errorf("%s: %s is not a flag of run", field, name)
			}
		}
	}
}

// stopCommand cancels the context of a command Main runs (its exit code
// comes on done) and checks that it stops with want; out says what the
// command printed when it does not.
func stopCommand(t *testing.T, cancel context.CancelFunc, done <-chan int, want int, out fmt.Stringer) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != want {
			t.Errorf("exit code %d, want %d:\n%s", code, want, out)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command did not stop with its context")
	}
}
