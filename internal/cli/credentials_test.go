package cli

import (
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
