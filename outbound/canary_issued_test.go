package outbound_test

import (
	"encoding/base64"
	"regexp"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/wssc"
)

// proofSecret finds the BinarySecret of a RequestedProofToken.
var proofSecret = regexp.MustCompile(`RequestedProofToken>(?:<[^>]*>)*?<[^>]*BinarySecret[^>]*>([^<]+)<`)

func init() {
	fromSTS := func(t *testing.T, up *upstreamRig, password string) session.Bootstrap {
		t.Helper()
		// The token service makes the proof key alone, so that it travels
		// in the token service's answer, where the test can read it.
		b, err := bootstrap.NewIssuedTokenFromSTS(bootstrap.TokenSTS{
			URL: up.url(t, "/Token.svc"), Version: wssc.V1_3, Username: testUser, Password: creds.NewSecret(password),
			Entropy: wssc.ServerEntropy, Client: upstream.New(upstream.Config{RootCAs: up.pool()}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	canaryCases = append(canaryCases, canaryCase{
		name:   "issued token",
		server: func(_ *testing.T, c *scserver.Config) { c.IssueTokens = true },
		good:   func(t *testing.T, up *upstreamRig) session.Bootstrap { return fromSTS(t, up, testPassword) },
		bad:    func(t *testing.T, up *upstreamRig) session.Bootstrap { return fromSTS(t, up, testPassword+"-wrong") },
		secrets: func(t *testing.T, up *upstreamRig) [][]byte {
			secrets := [][]byte{[]byte(testPassword)}
			for _, m := range up.messages() {
				for _, match := range proofSecret.FindAllSubmatch(m.resp, -1) {
					key, err := base64.StdEncoding.DecodeString(string(match[1]))
					if err != nil {
						t.Fatal(err)
					}
					secrets = append(secrets, key)
				}
			}
			// One proof key per token and per context.
			if len(secrets) < 2 {
				t.Fatal("no proof key was captured: the canary would prove nothing")
			}
			return secrets
		},
	})
}
