package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/keyringtest"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/session"
)

// The package's tests use a private Secret Service when one can be
// started, and otherwise no keyring at all: never the developer's own.
func TestMain(m *testing.M) { os.Exit(keyringtest.Run(m)) }

// credsMain runs `scproxy creds args` with stdin.
func credsMain(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"creds"}, args...), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestCredsCommand(t *testing.T) {
	keyringtest.Shared(t)
	code, out, errOut := credsMain(canary+"\n", "set", "svc.example.com", "--username", "alice", "--stdin")
	if code != ExitOK || !strings.Contains(out, "stored") {
		t.Fatalf("set: %d %q %q", code, out, errOut)
	}
	t.Cleanup(func() { credsMain("", "delete", "svc.example.com") })
	code, out, errOut = credsMain("", "get", "svc.example.com")
	if code != ExitOK || !strings.Contains(out, "alice") || !strings.Contains(out, "secret    stored") || strings.Contains(out+errOut, canary) {
		t.Fatalf("get: %d %q %q", code, out, errOut)
	}
	// run reads the entry named after the upstream's host by default.
	cfg, r := mustConfig(t, nil, cmdline(upstream)...)
	if got := cfg.Routes[0].Bootstrap; got != (session.Username{User: "alice", Password: creds.NewSecret(canary)}) {
		t.Fatalf("bootstrap from the keyring: %v", got)
	}
	if strings.Contains(r.out.String()+r.err.String(), canary) {
		t.Fatal("the secret was printed")
	}
	code, out, _ = credsMain("", "delete", "svc.example.com")
	if code != ExitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}
	code, _, errOut = credsMain("", "get", "svc.example.com")
	if code != ExitError || !strings.Contains(errOut, "scproxy creds set svc.example.com") {
		t.Fatalf("get after delete: %d %q", code, errOut)
	}
}

func TestCredsSetRefuses(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no terminal and no --stdin", canary, []string{"set", "x"}, "give --stdin"},
		{"empty stdin", "\n", []string{"set", "x", "--stdin"}, "the secret is empty"},
		{"huge stdin", strings.Repeat("x", maxStdinSecret+1), []string{"set", "x", "--stdin"}, "not a secret"},
		{"no name", "", []string{"set"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := credsMain(tt.stdin, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) || out != "" {
				t.Fatalf("got %d %q %q, want usage error with %q", code, out, errOut, tt.want)
			}
			if strings.Contains(errOut, canary) {
				t.Fatal("the secret was printed")
			}
		})
	}
}

// Every secret source feeds every bootstrap that needs one, and the
// choice is explicit.
func TestRunSecretSources(t *testing.T) {
	keyringtest.Shared(t)
	k := &creds.Keyring{}
	ctx := context.Background()
	for name, c := range map[string]creds.Credential{
		"orders":      {Username: "olga", Secret: creds.NewSecret(canary + "-orders")},
		"a.example":   {Username: "anna", Secret: creds.NewSecret(canary + "-a")},
		"b.example:8": {Username: "bert", Secret: creds.NewSecret(canary + "-b")},
	} {
		if err := k.Set(ctx, name, c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k.Delete(ctx, name) })
	}
	sysDir := t.TempDir()
	writeFile(t, sysDir, "svc", canary+"-systemd\n", 0o400)
	routes := []string{"--route", "/a=https://a.example/A.svc", "--route", "/b=https://b.example:8/B.svc", "--route", "/a2=https://a.example/Other.svc"}

	t.Run("--credential", func(t *testing.T) {
		cfg, _ := mustConfig(t, nil, cmdline(upstream, []string{"--credential", "orders"})...)
		if cfg.Bootstrap != (session.Username{User: "olga", Password: creds.NewSecret(canary + "-orders")}) {
			t.Fatalf("got %v", cfg.Bootstrap)
		}
	})
	t.Run("one entry per upstream host", func(t *testing.T) {
		cfg, _ := mustConfig(t, nil, routes...)
		want := map[string]string{"/a": "anna", "/b": "bert", "/a2": "anna"}
		for _, r := range cfg.Routes {
			if u := r.Bootstrap.(session.Username); u.User != want[r.Prefix] {
				t.Errorf("route %s: user %q, want %q", r.Prefix, u.User, want[r.Prefix])
			}
		}
	})
	t.Run("systemd credential", func(t *testing.T) {
		cfg, _ := mustConfig(t, map[string]string{"CREDENTIALS_DIRECTORY": sysDir}, cmdline(upstream, []string{"--username", "sam", "--systemd-credential", "svc"})...)
		if cfg.Bootstrap != (session.Username{User: "sam", Password: creds.NewSecret(canary + "-systemd")}) {
			t.Fatalf("got %v", cfg.Bootstrap)
		}
	})
	bad := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"username disagrees with the entry", nil, cmdline(upstream, []string{"--credential", "orders", "--username", "eve"}), []string{"--username", "olga"}},
		{"two sources", baseEnv, cmdline(upstream, userPW, []string{"--credential", "orders"}), []string{"give only one"}},
		{"missing entry", nil, cmdline(upstream, []string{"--credential", "nope"}), []string{"--credential", "scproxy creds set nope"}},
		{"missing default entry", nil, []string{"--upstream", "https://c.example/C.svc"}, []string{`"c.example"`, "scproxy creds set c.example", "--password-env"}},
		{"systemd without a directory", nil, cmdline(upstream, []string{"--username", "sam", "--systemd-credential", "svc"}), []string{"--systemd-credential", "CREDENTIALS_DIRECTORY"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.env, tt.args...)
			if r.runErr == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(r.runErr.Error(), w) {
					t.Errorf("%q lacks %q", r.runErr, w)
				}
			}
			if strings.Contains(r.runErr.Error(), canary) {
				t.Fatal("the secret is in the error")
			}
		})
	}
}

// The certificate flags feed both the certificate bootstrap and the x509
// profile; a PKCS#12 passphrase comes from the secret flags.
func TestRunCertificateFlags(t *testing.T) {
	key, cert := testkit.Client().RSAKey(), testkit.Client().Cert
	dir := t.TempDir()
	certFile := writeFile(t, dir, "c.pem", string(testkit.Client().CertPEM), 0o644)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	keyFile := writeFile(t, dir, "k.pem", keyPEM, 0o600)
	openKey := writeFile(t, dir, "open.pem", keyPEM, 0o644)
	p12, err := pkcs12.Modern.Encode(key, cert, nil, canary)
	if err != nil {
		t.Fatal(err)
	}
	p12File := writeFile(t, dir, "c.p12", string(p12), 0o600)
	encryptedKey := writeFile(t, dir, "enc.pem", string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})), 0o600)

	pemArgs := []string{"--cert-file", certFile, "--key-file", keyFile}
	cfg, _ := mustConfig(t, nil, cmdline(upstream, []string{"--bootstrap", "certificate"}, pemArgs)...)
	if b, ok := cfg.Bootstrap.(*bootstrap.Certificate); !ok || !b.Credential().Cert.Equal(cert) {
		t.Fatalf("certificate bootstrap: %v", cfg.Bootstrap)
	}
	cfg, _ = mustConfig(t, baseEnv, cmdline(upstream, []string{"--bootstrap", "certificate", "--pkcs12-file", p12File, "--password-env", "PW"})...)
	if b, ok := cfg.Bootstrap.(*bootstrap.Certificate); !ok || !b.Credential().Cert.Equal(cert) {
		t.Fatalf("PKCS#12 bootstrap: %v", cfg.Bootstrap)
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"key open to others", nil, cmdline(upstream, []string{"--bootstrap", "certificate", "--cert-file", certFile, "--key-file", openKey}), "chmod 600"},
		{"PKCS#12 wrong passphrase", map[string]string{"PW": "wrong"}, cmdline(upstream, []string{"--bootstrap", "certificate", "--pkcs12-file", p12File, "--password-env", "PW"}), "wrong passphrase"},
		{"PEM and PKCS#12", baseEnv, cmdline(upstream, pemArgs, []string{"--bootstrap", "certificate", "--pkcs12-file", p12File, "--password-env", "PW"}), "give only one"},
		{"encrypted PEM key", nil, cmdline(upstream, []string{"--bootstrap", "certificate", "--cert-file", certFile, "--key-file", encryptedKey}), "use --pkcs12-file"},
		{"key without certificate", nil, cmdline(upstream, []string{"--bootstrap", "certificate", "--key-file", keyFile}), "--cert-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.env, tt.args...)
			if r.runErr == nil || !strings.Contains(r.runErr.Error(), tt.want) {
				t.Fatalf("got %v, want %q", r.runErr, tt.want)
			}
		})
	}
}
