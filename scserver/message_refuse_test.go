package scserver

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

var defaultPolicy = msgPolicy{boot: BootstrapUsername, derived: true}

// Requests the message-security profile must refuse, each with the fault
// naming why; the server keeps serving the context afterwards.
func TestMessageRefusals(t *testing.T) {
	v := wssc.Feb2005
	tests := []struct {
		name   string
		send   func(h *harness, c *msgClient, ctx msgContext) *response
		code   xmldoc.Name
		reason string
	}{
		{"unsigned request", func(h *harness, c *msgClient, ctx msgContext) *response {
			return h.post(soap.V12, echoAction, []byte(msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, messageID: "urn:uuid:1", security: "-", body: echoBody}.xml()))
		}, codeInvalidSecurity, "has no Security header"},
		{"signed, body in clear", func(h *harness, c *msgClient, ctx msgContext) *response {
			plain := ctxOf(ctx, v)
			return h.post(soap.V12, echoAction, contextMessage(h.t, plain, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refDerived))
		}, codeInvalidSecurity, "the Body is not encrypted"},
		{"wrong key", func(h *harness, c *msgClient, ctx msgContext) *response {
			wrong := ctx
			wrong.key = slices.Clone(ctx.key)
			wrong.key[0] ^= 1
			r, _, _ := c.echo(wrong, "x")
			return r
		}, codeFailedCheck, "does not decrypt"},
		{"stale timestamp", func(h *harness, c *msgClient, ctx msgContext) *response {
			sent := c.protect(c.steady, echoAction, echoPayload(h.t, "x"), contextOut(ctx))
			h.clock.Advance(11 * time.Minute)
			defer h.clock.Advance(-11 * time.Minute)
			return h.post(soap.V12, echoAction, sent.Bytes)
		}, codeMessageExpired, "expired"},
		{"application message under the bootstrap key", func(h *harness, c *msgClient, ctx msgContext) *response {
			return h.post(soap.V12, echoAction, c.protect(c.boot, echoAction, echoPayload(h.t, "x"), c.bootstrapOut()).Bytes)
		}, codeInvalidSecurity, "only an Issue may be protected by anything but a security context"},
		{"issue under a context", func(h *harness, c *msgClient, ctx msgContext) *response {
			rst, err := wssc.BuildIssue(wssc.Params{Version: v, Rand: h.rand})
			if err != nil {
				h.t.Fatal(err)
			}
			return h.post(soap.V12, v.Action(wssc.Issue), c.protect(c.steady, v.Action(wssc.Issue), rst.Element, contextOut(ctx)).Bytes)
		}, codeInvalidSecurity, "not by a security context"},
		{"issue of a version not enabled", func(h *harness, c *msgClient, ctx msgContext) *response {
			other := h.msgClient(wssc.V1_3, defaultPolicy)
			r, _, _ := other.tryIssue(other.bootstrapOut())
			return r
		}, wsa.V10.Name("ActionNotSupported"), "not enabled"},
		{"body tampered", func(h *harness, c *msgClient, ctx msgContext) *response {
			sent := c.protect(c.steady, echoAction, echoPayload(h.t, "x"), contextOut(ctx))
			return h.post(soap.V12, echoAction, tamperLastCipher(h.t, sent.Bytes))
		}, codeFailedCheck, ""},
		{"unknown context", func(h *harness, c *msgClient, ctx msgContext) *response {
			other := ctx
			other.sct = &wssc.SCT{Identifier: "urn:uuid:00000000-0000-4000-8000-00000000dead", ID: "x"}
			r, _, _ := c.exchange(c.steady, echoAction, echoPayload(h.t, "x"), msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: other.sct, Key: ctx.key}}}, nil)
			return r
		}, v.Fault(wssc.BadContextToken), "is not known to this server"},
		{"wrong password", func(h *harness, c *msgClient, ctx msgContext) *response {
			out := c.bootstrapOut()
			ut, err := wss.NewUsernameToken("", testUser, "not the password", wss.PasswordText, h.clock.Now(), h.rand)
			if err != nil {
				h.t.Fatal(err)
			}
			out.Username = ut
			r, _, _ := c.tryIssue(out)
			return r
		}, codeFailedAuthentication, "authentication failed for user"},
		{"bootstrap not accepted", func(h *harness, c *msgClient, ctx msgContext) *response {
			r, _, _ := c.tryIssue(msgsec.Outgoing{Token: msgsec.Token{Recipient: testkit.Server().Cert}})
			return r
		}, codeFailedAuthentication, "does not accept the anonymous message bootstrap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startMessage(t, defaultPolicy, Config{Versions: []wssc.Version{v}})
			c := h.msgClient(v, defaultPolicy)
			ctx := c.issue()
			r := tc.send(h, c, ctx)
			if r.fault == nil {
				t.Fatalf("accepted, status %d:\n%s", r.status, r.raw)
			}
			r.wantFault(t, tc.code, tc.reason)
			if r, opened, err := c.echo(ctx, "still served"); err != nil || opened == nil || echoed(t, opened) != "still served" {
				t.Fatalf("the context no longer works: %v, status %d:\n%s", err, r.status, r.raw)
			}
		})
	}
}

// ctxOf is ctx as the sc-tls helpers hold it.
func ctxOf(c msgContext, v wssc.Version) ctx {
	return ctx{v: v, identifier: c.sct.Identifier, key: c.key}
}

// tamperLastCipher changes one base64 character in the middle of the last
// CipherValue of a message (the Body's content).
func tamperLastCipher(t *testing.T, b []byte) []byte {
	t.Helper()
	out := slices.Clone(b)
	i := bytes.LastIndex(out, []byte("CipherValue>"))
	j := bytes.LastIndex(out[:i], []byte("CipherValue>"))
	if i < 0 || j < 0 {
		t.Fatalf("no CipherValue in\n%s", b)
	}
	k := j + len("CipherValue>") + (i-j)/2
	if out[k] == 'A' {
		out[k] = 'B'
	} else {
		out[k] = 'A'
	}
	return out
}

// The fault machinery works in this profile: RenewNeeded from the script,
// BadContextToken after a recycle, a cookie context surviving one, the
// previous key refused once its rollover period is over, and a Cancel
// refused under MustNotSendCancel. RenewNeeded goes protected by the
// context it asks to renew, as WCF sends it (the client can then trust
// that the message was not processed); the others unprotected, as the
// server cannot or must not use the context they are about.
func TestMessageFaults(t *testing.T) {
	v := wssc.V1_3
	t.Run("renew needed", func(t *testing.T) {
		h := startMessage(t, defaultPolicy, Config{Script: Script{RenewAfterMessages: 1}})
		c := h.msgClient(v, defaultPolicy)
		ctx := c.issue()
		if _, opened, err := c.echo(ctx, "one"); err != nil || opened == nil {
			t.Fatalf("first message: %v", err)
		}
		r, opened, err := c.echo(ctx, "two")
		if err != nil || opened == nil || r.status != http.StatusInternalServerError {
			t.Fatalf("RenewNeeded, status %d, not opened with the context's key: %v\n%s", r.status, err, r.raw)
		}
		f, err := opened.Envelope.Fault()
		if err != nil || f == nil || !f.Has(v.Fault(wssc.RenewNeeded)) || !strings.Contains(f.Reason, "renew it") {
			t.Fatalf("opened answer: fault %v, %v", f, err)
		}
		if h.srv.Stats().Faults["RenewNeeded"] != 1 {
			t.Errorf("stats %+v", h.srv.Stats())
		}
		renewed := c.renew(ctx)
		if _, opened, err := c.echo(renewed, "three"); err != nil || opened == nil || echoed(t, opened) != "three" {
			t.Fatalf("after the renewal: %v", err)
		}
	})
	t.Run("recycle", func(t *testing.T) {
		h := startMessage(t, defaultPolicy, Config{})
		c := h.msgClient(v, defaultPolicy)
		ctx := c.issue()
		h.srv.ForgetAll()
		r, _, _ := c.echo(ctx, "x")
		r.wantFault(t, v.Fault(wssc.BadContextToken), "is not known to this server")
		if r.env.Header != nil && r.env.Header.FindElement("Security") != nil {
			t.Errorf("the fault carries a Security header:\n%s", r.raw)
		}
		fresh := c.issue()
		if _, opened, err := c.echo(fresh, "y"); err != nil || opened == nil {
			t.Fatalf("a new context after the recycle: %v", err)
		}
	})
	t.Run("rollover over", func(t *testing.T) {
		h := startMessage(t, defaultPolicy, Config{Rollover: time.Minute})
		c := h.msgClient(v, defaultPolicy)
		ctx := c.issue()
		renewed := c.renew(ctx)
		r, _, _ := c.exchange(c.steady, v.Action(wssc.Renew), renewRST(t, c, ctx), contextOut(ctx), [][]byte{ctx.key})
		r.wantFault(t, codeFailedCheck, "current key")
		h.clock.Advance(2 * time.Minute)
		r, _, _ = c.echo(ctx, "x")
		if r.fault == nil {
			t.Fatalf("the replaced key still works after its rollover period:\n%s", r.raw)
		}
		if _, opened, err := c.echo(renewed, "y"); err != nil || opened == nil {
			t.Fatalf("the current key: %v", err)
		}
	})
	t.Run("no cancel", func(t *testing.T) {
		p := defaultPolicy
		p.noCancel = true
		h := startMessage(t, p, Config{})
		c := h.msgClient(v, p)
		ctx := c.issue()
		if !ctx.sct.Cookie {
			t.Error("the token of a MustNotSendCancel service carries no cookie")
		}
		h.srv.ForgetAll()
		if _, opened, err := c.echo(ctx, "x"); err != nil || opened == nil {
			t.Fatalf("the cookie context did not survive a recycle: %v", err)
		}
		r, _, _ := c.cancel(ctx)
		r.wantFault(t, wsa.V10.Name("ActionNotSupported"), "MustNotSendCancel")
	})
}

// renewRST is a Renew request body for ctx.
func renewRST(t *testing.T, c *msgClient, ctx msgContext) *etree.Element {
	t.Helper()
	rst, err := wssc.BuildRenew(wssc.Params{Version: c.v, KeySize: c.keyBits(), Rand: c.h.rand}, wssc.ContextRef{Identifier: ctx.sct.Identifier, Instance: ctx.sct.Instance})
	if err != nil {
		t.Fatal(err)
	}
	return rst.Element
}

// Neither the log nor a fault ever carries the user's password, a
// context key or the plaintext of an encrypted body.
func TestMessageSecretsNotLogged(t *testing.T) {
	var log testkit.LogBuffer
	h := startMessage(t, defaultPolicy, Config{Logger: slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := h.msgClient(wssc.Feb2005, defaultPolicy)
	ctx := c.issue()
	const text = "plaintext-of-the-body"
	var faults []byte
	for _, k := range []msgContext{ctx, {sct: ctx.sct, key: bytes.Repeat([]byte{7}, len(ctx.key))}} {
		r, _, _ := c.echo(k, text)
		faults = append(faults, r.raw...)
	}
	out := c.bootstrapOut()
	out.Username.Password = "wrong " + testPassword
	r, _, _ := c.tryIssue(out)
	faults = append(faults, r.raw...)
	renewed := c.renew(ctx)
	for _, secret := range []string{testPassword, text, base64.StdEncoding.EncodeToString(ctx.key), base64.StdEncoding.EncodeToString(renewed.key), string(ctx.key)} {
		if strings.Contains(log.String(), secret) || bytes.Contains(faults, []byte(secret)) {
			t.Errorf("the log or a fault carries a secret (%d bytes)", len(secret))
		}
	}
	if !strings.Contains(log.String(), `"principal":"user:`+testUser) || !strings.Contains(log.String(), `"fault":"FailedAuthentication"`) {
		t.Errorf("the log does not tell the story:\n%s", log.String())
	}
}

// A client certificate that does not chain to TrustedCAs is refused under
// both certificate bootstraps, however well it signs.
func TestMessageUntrustedClient(t *testing.T) {
	for _, boot := range []MessageBootstrap{BootstrapMutual, BootstrapMutual10} {
		t.Run(boot.String(), func(t *testing.T) {
			p := msgPolicy{boot: boot, derived: true}
			h := startMessage(t, p, Config{})
			c := h.msgClient(wssc.Feb2005, p)
			foreign := &msgsec.Certificate{Cert: h.pki.foreign, Key: h.pki.foreignKey}
			out := c.bootstrapOut()
			if boot == BootstrapMutual {
				out.Endorsing = foreign
			} else {
				out.Token.Asymmetric.Signer = *foreign
			}
			r, _, _ := c.tryIssue(out)
			r.wantFault(t, codeFailedAuthentication, "the client certificate is not trusted")
			if st := h.srv.Stats(); st.Issued != 0 {
				t.Errorf("issued %d contexts", st.Issued)
			}
		})
	}
}

// A server accepting every bootstrap tells mutual from mutual10 by
// opening the Issue under one binding, then the other; a tampered request
// gets the one decryption fault.
func TestMessageEveryBootstrap(t *testing.T) {
	for _, boot := range MessageBootstraps {
		t.Run(boot.String(), func(t *testing.T) {
			p := msgPolicy{boot: boot, derived: true, accept: MessageBootstraps}
			h := startMessage(t, p, Config{})
			c := h.msgClient(wssc.V1_3, p)
			ctx := c.issue()
			if r, opened, err := c.echo(ctx, "any"); err != nil || opened == nil {
				t.Fatalf("echo: %v, status %d:\n%s", err, r.status, r.raw)
			}
			if boot != BootstrapMutual && boot != BootstrapMutual10 {
				return
			}
			rst, err := wssc.BuildIssue(wssc.Params{Version: wssc.V1_3, Rand: h.rand})
			if err != nil {
				t.Fatal(err)
			}
			sent := c.protect(c.boot, wssc.V1_3.Action(wssc.Issue), rst.Element, c.bootstrapOut())
			r := h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), tamperLastCipher(t, sent.Bytes))
			// Every decryption failure is the same fault, whichever
			// binding met it.
			r.wantFault(t, codeFailedCheck, "does not decrypt")
		})
	}
}
