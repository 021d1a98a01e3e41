package bootstrap_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestConstructorsNameTheField: a bootstrap configuration that cannot
// work is refused with a *setting.Error naming its field, which the
// command line turns into a flag; a password in a URL is not shown.
func TestConstructorsNameTheField(t *testing.T) {
	const pw = "canary-Settings-P4ss"
	sts := func(raw string) bootstrap.TokenSTS {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return bootstrap.TokenSTS{URL: u, Version: wssc.V1_3, Username: "alice", Password: creds.NewSecret(pw), Client: upstream.New(upstream.Config{})}
	}
	krb := bootstrap.KerberosConfig{Realm: "EXAMPLE.TEST", KDCs: []string{"kdc"}, Principal: "alice", Password: creds.NewSecret(pw), SPN: "HTTP/svc"}
	tests := []struct {
		name  string
		make  func() error
		field string
	}{
		{"STS URL with credentials", func() error {
			_, err := bootstrap.NewIssuedTokenFromSTS(sts("https://u:" + pw + "@sts.example/"))
			return err
		}, "TokenSTS.URL"},
		{"STS URL relative", func() error { _, err := bootstrap.NewIssuedTokenFromSTS(sts("sts.example/x")); return err }, "TokenSTS.URL"},
		{"STS without user", func() error {
			s := sts("https://sts.example/")
			s.Username = ""
			_, err := bootstrap.NewIssuedTokenFromSTS(s)
			return err
		}, "TokenSTS.Username"},
		{"kerberos without SPN", func() error { c := krb; c.SPN = ""; _, err := bootstrap.NewKerberos(c); return err }, "KerberosConfig.SPN"},
		{"kerberos with both credentials", func() error { c := krb; c.KeytabFile = "k"; _, err := bootstrap.NewKerberos(c); return err }, "KerberosConfig.KeytabFile"},
		{"kerberos bad KDC", func() error { c := krb; c.KDCs = []string{"kdc }"}; _, err := bootstrap.NewKerberos(c); return err }, "KerberosConfig.KDCs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.make()
			var se *setting.Error
			if !errors.As(err, &se) || se.Field != tt.field {
				t.Fatalf("got %v, want a *setting.Error for %s", err, tt.field)
			}
			if msg := err.Error(); strings.Contains(msg, pw) {
				t.Fatalf("message %q shows the password", msg)
			}
		})
	}
}
