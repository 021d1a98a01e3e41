package scserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/wssc"
)

// msgBootstraps are the bootstraps the round-trip tests run.
var msgBootstraps = []MessageBootstrap{BootstrapAnonymous, BootstrapUsername}

// Every bootstrap, with and without derived keys, in every protection
// order and both WS-SecureConversation versions: the Issue is opened and
// its credential authenticated, the grant comes back protected (confirming
// the request's signature), application messages are opened and their
// answers protected with the context, a Renew rolls the key over (the
// previous key still opens messages during the rollover) and a Cancel
// ends the context.
func TestMessageLifecycle(t *testing.T) {
	wantPrincipal := map[MessageBootstrap]string{BootstrapAnonymous: "anonymous", BootstrapUsername: "user:" + testUser}
	for _, boot := range msgBootstraps {
		for _, derived := range []bool{true, false} {
			for _, order := range []msgsec.Order{msgsec.SignBeforeEncryptAndEncryptSignature, msgsec.SignBeforeEncrypt, msgsec.EncryptBeforeSign} {
				p := msgPolicy{boot: boot, derived: derived, order: order}
				for _, v := range wssc.Versions {
					t.Run(p.String()+"/"+v.String(), func(t *testing.T) {
						h := startMessage(t, p, Config{})
						c := h.msgClient(v, p)
						ctx := c.issue()
						if ctx.sct == nil || len(ctx.key) != c.keyBits()/8 {
							t.Fatalf("grant %v with a %d-byte key", ctx.sct, len(ctx.key))
						}
						sess, err := h.srv.store.get(ctx.sct.Identifier, h.clock.Now())
						if err != nil {
							t.Fatal(err)
						}
						if sess.Principal != wantPrincipal[boot] || !bytes.Equal(sess.Key, ctx.key) {
							t.Errorf("the server holds the context for %q with another key: %q", sess.Principal, wantPrincipal[boot])
						}

						const text = "a secret only the service may read"
						r, opened, err := c.echo(ctx, text)
						if err != nil || opened == nil {
							t.Fatalf("echo: %v, status %d:\n%s", err, r.status, r.raw)
						}
						if got := echoed(t, opened); got != text {
							t.Errorf("echoed %q, want %q", got, text)
						}
						if bytes.Contains(r.raw, []byte(text)) {
							t.Errorf("the answer carries the body in clear:\n%s", r.raw)
						}

						h.clock.Advance(time.Minute)
						renewed := c.renew(ctx)
						if bytes.Equal(renewed.key, ctx.key) {
							t.Fatal("the renewal kept the key")
						}
						for _, k := range []msgContext{renewed, ctx} {
							if r, opened, err := c.echo(k, text); err != nil || opened == nil {
								t.Fatalf("echo after the renewal: %v, status %d:\n%s", err, r.status, r.raw)
							}
						}
						st := h.srv.Stats()
						if st.Issued != 1 || st.Renewed != 1 || st.Verified != 3 {
							t.Errorf("stats %+v", st)
						}

						if r, opened, err := c.cancel(renewed); err != nil || opened == nil {
							t.Fatalf("cancel: %v, status %d:\n%s", err, r.status, r.raw)
						}
						r, _, _ = c.echo(renewed, text)
						r.wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
					})
				}
			}
		}
	}
}
