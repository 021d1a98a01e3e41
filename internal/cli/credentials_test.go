package cli

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/internal/kdctest"
)

// The kerberos flags make the bootstrap with a password from the secret
// flags or a keytab; the realm comes from --krb5-conf.
func TestRunKerberosFlags(t *testing.T) {
	kdc := kdctest.Start(t)
	env := map[string]string{"PW": kdc.Password}
	base := []string{"--bootstrap", "kerberos", "--krb5-conf", kdc.Krb5Conf, "--spn", kdc.SPN}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"password", cmdline(upstream, base, []string{"--username", kdc.User, "--password-env", "PW"})},
		{"keytab, no secret", cmdline(upstream, base, []string{"--username", kdc.User, "--keytab", kdc.UserKeytab})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, r := mustConfig(t, env, tc.args...)
			k, ok := cfg.Bootstrap.(*bootstrap.Kerberos)
			if !ok || k.Principal() != kdc.User+"@"+kdc.Realm {
				t.Fatalf("bootstrap %v", cfg.Bootstrap)
			}
			closeBootstraps(cfg)
			if strings.Contains(r.out.String()+r.err.String(), kdc.Password) {
				t.Fatal("the password was printed")
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no spn", cmdline(upstream, []string{"--bootstrap", "kerberos", "--krb5-conf", kdc.Krb5Conf, "--username", kdc.User, "--password-env", "PW"}), "--spn"},
		{"no user", cmdline(upstream, base, []string{"--password-env", "PW"}), "--username"},
		{"missing krb5.conf", cmdline(upstream, []string{"--bootstrap", "kerberos", "--krb5-conf", kdc.Dir + "/none.conf", "--spn", kdc.SPN, "--username", kdc.User, "--password-env", "PW"}), "--bootstrap kerberos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, env, tc.args...)
			if r.runErr == nil || !strings.Contains(r.runErr.Error(), tc.want) || strings.Contains(r.runErr.Error(), kdc.Password) {
				t.Fatalf("got %v, want an error naming %q", r.runErr, tc.want)
			}
		})
	}
}

// The issued-token flags take a token from a file with its proof key as
// the secret, or from a token STS with the user's password.
func TestRunIssuedTokenFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token.xml", `<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"/>`, 0o600)
	env := map[string]string{"PW": canary, "KEY": "not base64!"}
	cfg, _ := mustConfig(t, env, cmdline(upstream, []string{"--bootstrap", "issued-token", "--token-sts", "https://sts.example.com/Token.svc", "--username", "alice", "--password-env", "PW"})...)
	if b, ok := cfg.Bootstrap.(*bootstrap.IssuedToken); !ok || b.Kind() != "issued-token" || strings.Contains(b.String(), canary) {
		t.Fatalf("bootstrap %v", cfg.Bootstrap)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither file nor STS", []string{"--bootstrap", "issued-token", "--password-env", "PW"}, "--token-file FILE"},
		{"both", []string{"--bootstrap", "issued-token", "--token-file", tokenFile, "--token-sts", "https://sts.example.com/", "--password-env", "PW"}, "give only one"},
		{"proof key not base64", []string{"--bootstrap", "issued-token", "--token-file", tokenFile, "--password-env", "KEY"}, "proof key in base64"},
		{"missing token file", []string{"--bootstrap", "issued-token", "--token-file", dir + "/none.xml", "--password-env", "PW"}, "--token-file"},
		{"STS without user", []string{"--bootstrap", "issued-token", "--token-sts", "https://sts.example.com/", "--password-env", "PW"}, "--username"},
		{"STS with credentials in its URL", []string{"--bootstrap", "issued-token", "--token-sts", "https://u:" + canary + "@sts.example.com/", "--username", "a", "--password-env", "PW"}, "--token-sts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, env, cmdline(upstream, tc.args)...)
			if r.runErr == nil || !strings.Contains(r.runErr.Error(), tc.want) || strings.Contains(r.runErr.Error(), canary) {
				t.Fatalf("got %v, want an error naming %q", r.runErr, tc.want)
			}
		})
	}
}

// TestRunBootstrapsPrintRedacted: every bootstrap the command line builds
// with a password, printed with any verb or logged as text or JSON, shows
// no password: the secret stays a creds.Secret up to the bytes it is sent
// in.
func TestRunBootstrapsPrintRedacted(t *testing.T) {
	kdc := kdctest.Start(t)
	env := map[string]string{"PW": canary, "KPW": kdc.Password}
	for _, tc := range []struct {
		name   string
		args   []string
		secret string
	}{
		{"username", cmdline(upstream, userPW), canary},
		{"username, digest", cmdline(upstream, userPW, []string{"--password-digest"}), canary},
		{"issued token from an STS", cmdline(upstream, userPW, []string{"--bootstrap", "issued-token", "--token-sts", "https://sts.example.com/Token.svc"}), canary},
		{"kerberos", cmdline(upstream, []string{"--bootstrap", "kerberos", "--krb5-conf", kdc.Krb5Conf, "--spn", kdc.SPN, "--username", kdc.User, "--password-env", "KPW"}), kdc.Password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, r := mustConfig(t, env, tc.args...)
			defer closeBootstraps(cfg)
			var logs bytes.Buffer
			for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
				slog.New(h).Info("bootstrap", "bootstrap", cfg.Bootstrap, "config", cfg)
			}
			b := cfg.Bootstrap
			shown := fmt.Sprintf("%v %+v %#v %s %q", b, b, b, b, b)
			for _, where := range []string{shown, logs.String(), r.out.String(), r.err.String()} {
				if strings.Contains(where, tc.secret) {
					t.Errorf("the password is shown: %q", where)
				}
			}
		})
	}
}
