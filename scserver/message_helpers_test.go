package scserver

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// msgPolicy is one service policy of the message-security profile.
type msgPolicy struct {
	boot    MessageBootstrap
	derived bool
	order   msgsec.Order
	suite   msgsec.Suite
	method  string // symmetric signature, when not the suite's
	// noCancel is MustNotSendCancel (the server's NoCancel).
	noCancel bool
	// accept are the bootstraps the server accepts; nil means boot only.
	accept []MessageBootstrap
}

func (p msgPolicy) String() string {
	dk := "direct"
	if p.derived {
		dk = "derived"
	}
	return p.boot.String() + "/" + dk + "/" + p.order.String() + "/" + p.suite.Name
}

// startMessage runs a server of the message-security profile with the
// test kit's server certificate as service certificate, accepting the
// policy's bootstrap only.
func startMessage(t *testing.T, p msgPolicy, cfg Config) *harness {
	t.Helper()
	if p.suite.Name == "" {
		p.suite = msgsec.Basic256
	}
	accept := p.accept
	if accept == nil {
		accept = []MessageBootstrap{p.boot}
	}
	cfg.Message = &MessageSecurity{
		Certificate: testkit.Server().Cert, Key: testkit.Server().RSAKey(),
		Suite: p.suite, SignatureMethod: p.method, Order: p.order, DerivedKeys: p.derived, Bootstraps: accept, NoCancel: p.noCancel,
	}
	return start(t, cfg)
}

// msgClient is a client of the message-security profile written with
// wire/msgsec's client role and wire/wssc's builders (not scproxy's
// session code, so that a misunderstanding shared by both cannot hide).
type msgClient struct {
	h  *harness
	v  wssc.Version
	sv soap.Version
	p  msgPolicy
	// boot protects Issues (under the asymmetric binding for mutual10),
	// steady the rest.
	boot, steady *msgsec.Profile
}

func (h *harness) msgClient(v wssc.Version, p msgPolicy) *msgClient {
	h.t.Helper()
	c := &msgClient{h: h, v: v, sv: soap.V12, p: p}
	if p.suite.Name == "" {
		c.p.suite = msgsec.Basic256
	}
	for _, confirm := range []bool{true, false} {
		// mutual10's bootstrap (WS-Security 1.0, keyed by the
		// certificates) has no derived keys and no SignatureConfirmation.
		asym := confirm && p.boot == BootstrapMutual10
		prof, err := msgsec.New(msgsec.Config{
			Role: msgsec.Client, Version: v, Suite: c.p.suite, SignatureMethod: p.method, Order: p.order, DerivedKeys: p.derived && !asym,
			SignatureConfirmation: confirm && !asym, Asymmetric: asym, Now: h.clock.Now, Rand: testkit.Rand("message client " + p.String()),
		})
		if err != nil {
			h.t.Fatal(err)
		}
		if confirm {
			c.boot = prof
		} else {
			c.steady = prof
		}
	}
	return c
}

// msgContext is a context as the test client holds it.
type msgContext struct {
	sct *wssc.SCT
	key []byte
}

// exchange protects payload under prof and out, posts it with action,
// and, unless the server answered a fault, opens the answer. keys are
// the context keys the answer may use.
func (c *msgClient) exchange(prof *msgsec.Profile, action string, payload *etree.Element, out msgsec.Outgoing, keys [][]byte) (*response, *msgsec.Opened, error) {
	c.h.t.Helper()
	sent := c.protect(prof, action, payload, out)
	r := c.h.post(c.sv, action, sent.Bytes)
	if r.fault != nil || r.env == nil {
		return r, nil, nil
	}
	env, err := soap.ParseWith(r.raw, xmldoc.Options{KeepSpans: true})
	if err != nil {
		c.h.t.Fatal(err)
	}
	exp := msgsec.Expect{Request: sent, ContextKeys: func(string) ([][]byte, error) { return keys, nil }}
	if prof.Config().Asymmetric {
		// The answer is signed by the service's certificate and encrypted
		// for the client's.
		exp.Own, exp.Peer = &msgsec.Certificate{Cert: c.h.pki.good, Key: c.h.pki.goodKey}, testkit.Server().Cert
	}
	opened, err := prof.Open(env, exp)
	return r, opened, err
}

// protect builds the request envelope (SOAP 1.2, WS-Addressing 1.0) and
// protects it.
func (c *msgClient) protect(prof *msgsec.Profile, action string, payload *etree.Element, out msgsec.Outgoing) *msgsec.Sent {
	c.h.t.Helper()
	env := soap.NewEnvelope(c.sv)
	hs, err := wsa.NewRequest(wsa.V10, action, c.h.srv.URL(), c.h.rand)
	if err != nil {
		c.h.t.Fatal(err)
	}
	hs.ReplyTo = wsa.V10.Anonymous()
	if _, err := hs.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		c.h.t.Fatal(err)
	}
	env.Body.AddChild(payload)
	sent, err := prof.Protect(env, out)
	if err != nil {
		c.h.t.Fatalf("client Protect: %v", err)
	}
	return sent
}

// bootstrapOut is the protection of an Issue under the policy's
// bootstrap, the test user's credentials for username.
func (c *msgClient) bootstrapOut() msgsec.Outgoing {
	c.h.t.Helper()
	out := msgsec.Outgoing{Token: msgsec.Token{Recipient: testkit.Server().Cert}}
	switch c.p.boot {
	case BootstrapUsername:
		ut, err := wss.NewUsernameToken("", testUser, testPassword, wss.PasswordText, c.h.clock.Now(), c.h.rand)
		if err != nil {
			c.h.t.Fatal(err)
		}
		out.Username = ut
	case BootstrapMutual:
		out.Endorsing = &msgsec.Certificate{Cert: c.h.pki.good, Key: c.h.pki.goodKey}
	case BootstrapMutual10:
		out.Token = msgsec.Token{Asymmetric: &msgsec.Asymmetric{
			Signer: msgsec.Certificate{Cert: c.h.pki.good, Key: c.h.pki.goodKey}, Recipient: testkit.Server().Cert,
		}}
	}
	return out
}

// keyBits is the context key size the client asks for: the suite's key
// length when the key is used directly.
func (c *msgClient) keyBits() int {
	if c.p.derived {
		return wssc.DefaultKeySize
	}
	return 8 * c.p.suite.KeyLength()
}

// issue establishes a context under the policy's bootstrap; it fails the
// test unless the server answers with a protected grant.
func (c *msgClient) issue() msgContext {
	c.h.t.Helper()
	r, ctx, err := c.tryIssue(c.bootstrapOut())
	if err != nil || r.fault != nil {
		c.h.t.Fatalf("issue: %v, status %d:\n%s", err, r.status, r.raw)
	}
	return ctx
}

// tryIssue sends an Issue protected by out.
func (c *msgClient) tryIssue(out msgsec.Outgoing) (*response, msgContext, error) {
	c.h.t.Helper()
	rst, err := wssc.BuildIssue(wssc.Params{Version: c.v, KeySize: c.keyBits(), Rand: c.h.rand})
	if err != nil {
		c.h.t.Fatal(err)
	}
	r, opened, err := c.exchange(c.boot, c.v.Action(wssc.Issue), rst.Element, out, nil)
	if opened == nil {
		return r, msgContext{}, err
	}
	// The answer is keyed by the request's key, named as WCF names it
	// (opening it checked the SignatureConfirmation).
	if out.Token.Recipient != nil && !bytes.Contains(r.raw, []byte(`ValueType="`+wss.ValueTypeEncryptedKeySHA1+`"`)) {
		c.h.t.Errorf("the grant does not reference the request's key by EncryptedKeySHA1:\n%s", r.raw)
	}
	// mutual10's grant is keyed by the certificates, whatever the steady
	// state's RequireDerivedKeys.
	if out.Token.Asymmetric != nil && bytes.Contains(r.raw, []byte("DerivedKeyToken")) {
		c.h.t.Errorf("the mutual10 grant carries DerivedKeyTokens:\n%s", r.raw)
	}
	return r, c.grant(opened, rst, wssc.Issue), nil
}

// grant reads the context from an opened Issue or Renew answer.
func (c *msgClient) grant(opened *msgsec.Opened, rst *wssc.RST, op wssc.Operation) msgContext {
	c.h.t.Helper()
	// The token must be read with its bytes: the decrypted Body is parsed
	// again, as the client reads a grant.
	env, err := soap.ParseWith(opened.Envelope.Bytes(), xmldoc.Options{KeepSpans: true})
	if err != nil {
		c.h.t.Fatal(err)
	}
	payload, err := env.Payload()
	if err != nil {
		c.h.t.Fatal(err)
	}
	resp, err := wssc.ParseResponse(env.Doc, payload, c.v)
	if err == nil {
		err = resp.Expect(op)
	}
	if err != nil {
		c.h.t.Fatal(err)
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return msgContext{sct: resp.Token, key: key}
}

// contextOut protects a message with ctx, the SCT included as WCF's
// client does.
func contextOut(ctx msgContext) msgsec.Outgoing {
	return msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: ctx.sct, Key: ctx.key, Include: true}}}
}

// echo sends an application message protected by ctx.
func (c *msgClient) echo(ctx msgContext, text string) (*response, *msgsec.Opened, error) {
	c.h.t.Helper()
	return c.exchange(c.steady, echoAction, echoPayload(c.h.t, text), contextOut(ctx), [][]byte{ctx.key})
}

// renew renews ctx; it fails the test unless the server grants a new key.
func (c *msgClient) renew(ctx msgContext) msgContext {
	c.h.t.Helper()
	rst, err := wssc.BuildRenew(wssc.Params{Version: c.v, KeySize: c.keyBits(), Rand: c.h.rand}, wssc.ContextRef{Identifier: ctx.sct.Identifier, Instance: ctx.sct.Instance})
	if err != nil {
		c.h.t.Fatal(err)
	}
	r, opened, err := c.exchange(c.steady, c.v.Action(wssc.Renew), rst.Element, contextOut(ctx), [][]byte{ctx.key})
	if err != nil || opened == nil {
		c.h.t.Fatalf("renew: %v, status %d:\n%s", err, r.status, r.raw)
	}
	renewed := c.grant(opened, rst, wssc.Renew)
	if renewed.sct.Identifier != ctx.sct.Identifier {
		c.h.t.Fatalf("renewal changed the Identifier from %q to %q", ctx.sct.Identifier, renewed.sct.Identifier)
	}
	return renewed
}

// cancel sends a Cancel of ctx protected by ctx.
func (c *msgClient) cancel(ctx msgContext) (*response, *msgsec.Opened, error) {
	c.h.t.Helper()
	el, err := wssc.BuildCancel(c.v, wssc.ContextRef{Identifier: ctx.sct.Identifier, Instance: ctx.sct.Instance})
	if err != nil {
		c.h.t.Fatal(err)
	}
	return c.exchange(c.steady, c.v.Action(wssc.Cancel), el, contextOut(ctx), [][]byte{ctx.key})
}

// echoPayload is the application request the tests send.
func echoPayload(t *testing.T, text string) *etree.Element {
	t.Helper()
	el := etree.NewElement("EchoString")
	el.CreateAttr("xmlns", "http://tempuri.org/")
	el.CreateElement("echo").SetText(text)
	return el
}

// echoed returns the text of an opened echo answer.
func echoed(t *testing.T, o *msgsec.Opened) string {
	t.Helper()
	p, err := o.Envelope.Payload()
	if err != nil {
		t.Fatal(err)
	}
	if p.Tag != "EchoStringResponse" {
		t.Fatalf("answer payload %s", xmldoc.NameOf(p))
	}
	return p.FindElement("echo").Text()
}
