package scserver

import (
	"bytes"
	"slices"
	"testing"
	"time"

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
			h := startMessage(t, defaultPolicy, Config{})
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
