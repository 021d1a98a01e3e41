package scserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// renewUnderBootstrap sends a Renew of target as WCF's client
// does: under the policy's bootstrap binding (out), endorsed by endorser.
func (c *msgClient) renewUnderBootstrap(out msgsec.Outgoing, endorser, target msgContext) (*response, *msgsec.Opened, *wssc.RST) {
	c.h.t.Helper()
	rst, err := wssc.BuildRenew(wssc.Params{Version: c.v, KeySize: c.keyBits(), Rand: c.h.rand}, wssc.ContextRef{Identifier: target.sct.Identifier, Instance: target.sct.Instance})
	if err != nil {
		c.h.t.Fatal(err)
	}
	out.EndorsingContext = &msgsec.Context{Token: endorser.sct, Key: endorser.key}
	r, opened, err := c.exchange(c.boot, c.v.Action(wssc.Renew), rst.Element, out, nil)
	if err != nil {
		c.h.t.Fatalf("the answer to the Renew does not open: %v\n%s", err, r.raw)
	}
	return r, opened, rst
}

// A Renew under the bootstrap binding, endorsed by the context (the shape
// WCF's client sends), is accepted for every bootstrap (under
// mutual the client's certificate endorses too, under mutual10 the
// context endorses the certificate's signature), with and without derived
// keys, in every protection order and both versions: the answer is keyed by the Renew's fresh key
// (EncryptedKeySHA1; the asymmetric binding's under mutual10) and
// confirms every signature (the client's Open checks it), the new key
// works, the replaced one during the rollover only as before.
func TestMessageRenewUnderBootstrap(t *testing.T) {
	for _, boot := range msgBootstraps {
		for _, derived := range []bool{true, false} {
			for _, order := range []msgsec.Order{msgsec.SignBeforeEncryptAndEncryptSignature, msgsec.SignBeforeEncrypt, msgsec.EncryptBeforeSign} {
				p := msgPolicy{boot: boot, derived: derived, order: order}
				for _, v := range wssc.Versions {
					t.Run(p.String()+"/"+v.String(), func(t *testing.T) {
						h := startMessage(t, p, Config{Rollover: time.Minute})
						c := h.msgClient(v, p)
						ctx := c.issue()
						h.clock.Advance(30 * time.Second)
						r, opened, rst := c.renewUnderBootstrap(c.bootstrapOut(), ctx, ctx)
						if opened == nil {
							t.Fatalf("renew refused, status %d:\n%s", r.status, r.raw)
						}
						if boot != BootstrapMutual10 && !bytes.Contains(r.raw, []byte(`ValueType="`+wss.ValueTypeEncryptedKeySHA1+`"`)) {
							t.Errorf("the answer is not keyed by the Renew's key:\n%s", r.raw)
						}
						renewed := c.grant(opened, rst, wssc.Renew)
						if renewed.sct.Identifier != ctx.sct.Identifier || bytes.Equal(renewed.key, ctx.key) {
							t.Fatalf("renewal gave %q with the same key: %v", renewed.sct.Identifier, bytes.Equal(renewed.key, ctx.key))
						}
						sess, err := h.srv.store.get(ctx.sct.Identifier, h.clock.Now())
						if err != nil || !bytes.Equal(sess.Key, renewed.key) {
							t.Fatalf("the server holds another key after the renewal (%v)", err)
						}
						if st := h.srv.Stats(); st.Renewed != 1 {
							t.Errorf("stats %+v", st)
						}
						for _, k := range []msgContext{renewed, ctx} {
							if r, opened, err := c.echo(k, "x"); err != nil || opened == nil {
								t.Fatalf("echo after the renewal: %v, status %d:\n%s", err, r.status, r.raw)
							}
						}
						// The replaced key no longer endorses a Renew.
						r, _, _ = c.renewUnderBootstrap(c.bootstrapOut(), ctx, ctx)
						r.wantFault(t, codeFailedCheck, "")
						h.clock.Advance(2 * time.Minute)
						r, _, _ = c.echo(ctx, "x")
						if r.fault == nil {
							t.Fatalf("the replaced key works after its rollover period:\n%s", r.raw)
						}
					})
				}
			}
		}
	}
}

// What a service refuses of a Renew under the bootstrap binding: one
// endorsed by another context than its RenewTarget, one not endorsed, one
// whose bootstrap credential fails, one whose credential is another
// user's than the context's, one endorsed by an unknown context, an Issue
// endorsed by a context, and any other request in that shape; the
// contexts keep working.
func TestMessageRenewUnderBootstrapRefused(t *testing.T) {
	v := wssc.Feb2005
	p := defaultPolicy
	h := startMessage(t, p, Config{Users: map[string]string{testUser: testPassword, "bob": "bob's password"}})
	c := h.msgClient(v, p)
	ctx, other := c.issue(), c.issue()
	withUser := func(user, password string) msgsec.Outgoing {
		out := c.bootstrapOut()
		ut, err := wss.NewUsernameToken("", user, password, wss.PasswordText, h.clock.Now(), h.rand)
		if err != nil {
			t.Fatal(err)
		}
		out.Username = ut
		return out
	}
	t.Run("endorsed by another context than the target", func(t *testing.T) {
		r, _, _ := c.renewUnderBootstrap(c.bootstrapOut(), other, ctx)
		r.wantFault(t, codeFailedAuthentication, "targets context")
	})
	t.Run("not endorsed", func(t *testing.T) {
		r := h.post(c.sv, v.Action(wssc.Renew), c.protect(c.boot, v.Action(wssc.Renew), renewRST(t, c, ctx), c.bootstrapOut()).Bytes)
		r.wantFault(t, codeInvalidSecurity, "a Renew endorsed by the context it renews")
	})
	t.Run("wrong password", func(t *testing.T) {
		r, _, _ := c.renewUnderBootstrap(withUser(testUser, "wrong"), ctx, ctx)
		r.wantFault(t, codeFailedAuthentication, "")
	})
	t.Run("another user", func(t *testing.T) {
		r, _, _ := c.renewUnderBootstrap(withUser("bob", "bob's password"), ctx, ctx)
		r.wantFault(t, codeFailedAuthentication, "was not issued to")
	})
	t.Run("unknown context", func(t *testing.T) {
		src := `<c:SecurityContextToken xmlns:c="` + v.SC() + `"><c:Identifier>urn:uuid:00000000-0000-4000-8000-00000000dead</c:Identifier></c:SecurityContextToken>`
		doc, err := xmldoc.Parse([]byte(src), xmldoc.Options{KeepSpans: true})
		if err != nil {
			t.Fatal(err)
		}
		sct, err := wssc.ParseSCT(doc, doc.Root(), v)
		if err != nil {
			t.Fatal(err)
		}
		unknown := msgContext{sct: sct, key: ctx.key}
		r, _, _ := c.renewUnderBootstrap(c.bootstrapOut(), unknown, unknown)
		r.wantFault(t, v.Fault(wssc.BadContextToken), "is not known to this server")
	})
	t.Run("issue endorsed by a context", func(t *testing.T) {
		rst, err := wssc.BuildIssue(wssc.Params{Version: v, Rand: h.rand})
		if err != nil {
			t.Fatal(err)
		}
		out := c.bootstrapOut()
		out.EndorsingContext = &msgsec.Context{Token: ctx.sct, Key: ctx.key}
		r := h.post(c.sv, v.Action(wssc.Issue), c.protect(c.boot, v.Action(wssc.Issue), rst.Element, out).Bytes)
		r.wantFault(t, codeInvalidSecurity, "not endorsed by a security context")
	})
	t.Run("cancel in that shape", func(t *testing.T) {
		el, err := wssc.BuildCancel(v, ctx.sct.Ref())
		if err != nil {
			t.Fatal(err)
		}
		out := c.bootstrapOut()
		out.EndorsingContext = &msgsec.Context{Token: ctx.sct, Key: ctx.key}
		r := h.post(c.sv, v.Action(wssc.Cancel), c.protect(c.boot, v.Action(wssc.Cancel), el, out).Bytes)
		r.wantFault(t, codeInvalidSecurity, "only an Issue may be protected")
	})
	for _, k := range []msgContext{ctx, other} {
		if r, opened, err := c.echo(k, "still"); err != nil || opened == nil {
			t.Fatalf("echo after the refusals: %v, status %d:\n%s", err, r.status, r.raw)
		}
	}
	if st := h.srv.Stats(); st.Renewed != 0 {
		t.Errorf("%d renewals counted", st.Renewed)
	}
}
