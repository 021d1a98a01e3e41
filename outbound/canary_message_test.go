package outbound_test

import (
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/wssc"
)

// The message profile under the canary: the username binding
// (UserNameForCertificate), its password encrypted for the service.
func init() {
	message := func(password string) func(*testing.T, *upstreamRig) session.Bootstrap {
		return func(t *testing.T, up *upstreamRig) session.Bootstrap {
			cert, _ := up.srv.ServiceCertificate()
			b, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.UserNameForCertificate, ServerCert: cert, Version: wssc.V1_3,
				DerivedKeys: true, User: testUser, Password: creds.NewSecret(password)})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	canaryCases = append(canaryCases, canaryCase{
		name: "message username",
		server: func(_ *testing.T, c *scserver.Config) {
			c.Message = &scserver.MessageSecurity{DerivedKeys: true, Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapUsername}}
		},
		good:    message(testPassword),
		bad:     message(testPassword + "-wrong"),
		secrets: func(*testing.T, *upstreamRig) [][]byte { return [][]byte{[]byte(testPassword)} },
		profile: outbound.ProfileMessage,
	})
}
