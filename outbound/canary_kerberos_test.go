package outbound_test

import (
	"encoding/base64"
	"regexp"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/kdctest"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/wssc"
)

// canaryKDC is the realm of the running kerberos canary subtest; the
// subtests run one after another.
var canaryKDC *kdctest.KDC

// bstContent finds the token bytes of a BinarySecurityToken.
var bstContent = regexp.MustCompile(`BinarySecurityToken[^>]*>([^<]+)<`)

func init() {
	kerberos := func(t *testing.T, password string) session.Bootstrap {
		t.Helper()
		b, err := bootstrap.NewKerberos(bootstrap.KerberosConfig{Krb5Conf: canaryKDC.Krb5Conf, Principal: canaryKDC.User,
			Password: creds.NewSecret(password), SPN: canaryKDC.SPN})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	canaryCases = append(canaryCases, canaryCase{
		name: "kerberos",
		server: func(t *testing.T, c *scserver.Config) {
			canaryKDC = kdctest.Start(t)
			acc, err := scserver.LoadKerberosAcceptor(canaryKDC.ServiceKeytab, canaryKDC.SPN)
			if err != nil {
				t.Fatal(err)
			}
			c.Kerberos = acc
		},
		good: func(t *testing.T, _ *upstreamRig) session.Bootstrap { return kerberos(t, canaryKDC.Password) },
		bad:  func(t *testing.T, _ *upstreamRig) session.Bootstrap { return kerberos(t, canaryKDC.Password+"-wrong") },
		secrets: func(t *testing.T, up *upstreamRig) [][]byte {
			secrets := [][]byte{[]byte(canaryKDC.Password)}
			for _, m := range up.ops(wssc.Issue) {
				for _, match := range bstContent.FindAllSubmatch(m.body, -1) {
					raw, err := base64.StdEncoding.DecodeString(string(match[1]))
					if err != nil {
						t.Fatal(err)
					}
					// The AP-REQ whole, and a stretch of its ticket.
					secrets = append(secrets, raw, raw[len(raw)/2:len(raw)/2+24])
				}
			}
			if len(secrets) == 1 {
				t.Fatal("no Kerberos token was captured: the canary would prove nothing")
			}
			return secrets
		},
	})
}
