package outbound_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
)

// Through the proxy, the service's RenewNeeded is answered by a Renew in
// the shape WCF's client sends (under the username binding, the
// context endorsing), which the built-in server renews in place; the
// request is resent under the new key, and the context is cancelled at
// shutdown.
func TestMessageProfileRenewsUnderBootstrap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		derived bool
		order   msgsec.Order
	}{
		{"derived keys, WCF's order", true, msgsec.SignBeforeEncryptAndEncryptSignature},
		{"no derived keys, encrypt-sign", false, msgsec.EncryptBeforeSign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: tc.derived, Order: tc.order}, scserver.Script{RenewAfterMessages: 2})
			cfg := messageProxyConfig(t, u, tc.derived, tc.order)
			mc := cfg.Bootstrap.(*bootstrap.Message).Config()
			mc.RenewUnderBootstrap = true
			b, err := bootstrap.NewMessage(mc)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Bootstrap = b
			sp := serveProxy(t, cfg)
			app := newApp(t)
			for i := range 3 {
				if r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK || !strings.Contains(r.body, "hello") {
					t.Fatalf("call %d: %d %s", i, r.status, r.body)
				}
			}
			if st := u.srv.Stats(); st.Issued != 1 || st.Renewed != 1 {
				t.Fatalf("after RenewNeeded: issued %d renewed %d, want 1 and 1", st.Issued, st.Renewed)
			}
			// The STS requests are the ones under the bootstrap binding
			// (an EncryptedKey): the Issue, then the Renew, which carries
			// the context's SCT; neither shows the password.
			var sts [][]byte
			for _, body := range u.bodies() {
				if bytes.Contains(body, []byte("EncryptedKey")) {
					sts = append(sts, body)
				}
				if bytes.Contains(body, []byte(testPassword)) {
					t.Fatalf("a request shows the password:\n%s", body)
				}
			}
			if len(sts) != 2 || bytes.Contains(sts[0], []byte("SecurityContextToken")) || !bytes.Contains(sts[1], []byte("SecurityContextToken")) {
				t.Fatalf("%d requests under the bootstrap binding, want the Issue and the Renew with the context's SCT", len(sts))
			}
			if _, err := sp.stop(); err != nil {
				t.Fatal(err)
			}
			if st := u.srv.Stats(); st.Cancelled != 1 {
				t.Fatalf("cancelled %d, want 1", st.Cancelled)
			}
		})
	}
}
