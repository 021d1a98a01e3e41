package scserver

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// msgBootstraps are the bootstraps the round-trip tests run.
var msgBootstraps = MessageBootstraps

// Every bootstrap, with and without derived keys, in every protection
// order and both WS-SecureConversation versions: the Issue is opened and
// its credential authenticated, the grant comes back protected (confirming
// the request's signature), application messages are opened and their
// answers protected with the context, a Renew rolls the key over (the
// previous key still opens messages during the rollover) and a Cancel
// ends the context.
func TestMessageLifecycle(t *testing.T) {
	client := "x509:" + loadPKI(t).good.Subject.String()
	wantPrincipal := map[MessageBootstrap]string{BootstrapAnonymous: "anonymous", BootstrapUsername: "user:" + testUser, BootstrapMutual: client, BootstrapMutual10: client}
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

// A message may name its context by Identifier alone, the SCT left out
// of the header, with or without derived keys; the server, accepting both
// versions, finds the context of either.
func TestMessageContextByIdentifier(t *testing.T) {
	for _, derived := range []bool{true, false} {
		p := msgPolicy{boot: BootstrapAnonymous, derived: derived}
		for _, v := range wssc.Versions {
			t.Run(p.String()+"/"+v.String(), func(t *testing.T) {
				h := startMessage(t, p, Config{})
				c := h.msgClient(v, p)
				ctx := c.issue()
				out := msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: ctx.sct, Key: ctx.key}}}
				r, opened, err := c.exchange(c.steady, echoAction, echoPayload(t, "by identifier"), out, [][]byte{ctx.key})
				if err != nil || opened == nil || echoed(t, opened) != "by identifier" {
					t.Fatalf("%v, status %d:\n%s", err, r.status, r.raw)
				}
			})
		}
	}
}

// Other algorithm suites (WCF's HMAC-SHA256 signature of Basic256Sha256
// included) and SOAP 1.1 requests, answered in SOAP 1.1.
func TestMessageSuites(t *testing.T) {
	for _, tc := range []struct {
		suite, method string
		sv            soap.Version
	}{
		{"Basic128", "", soap.V12},
		{"Basic192Rsa15", "", soap.V11},
		{"TripleDes", "", soap.V12},
		{"Basic256Sha256", dsig.HMACSHA256, soap.V11},
	} {
		t.Run(tc.suite+"/"+tc.sv.String(), func(t *testing.T) {
			suite, err := msgsec.SuiteByName(tc.suite)
			if err != nil {
				t.Fatal(err)
			}
			for _, derived := range []bool{true, false} {
				// The Signature in clear, to see its method.
				p := msgPolicy{boot: BootstrapUsername, derived: derived, suite: suite, method: tc.method, order: msgsec.SignBeforeEncrypt}
				h := startMessage(t, p, Config{})
				c := h.msgClient(wssc.V1_3, p)
				c.sv = tc.sv
				ctx := c.issue()
				r, opened, err := c.echo(ctx, "suite")
				if err != nil || opened == nil || echoed(t, opened) != "suite" {
					t.Fatalf("derived %v: %v, status %d:\n%s", derived, err, r.status, r.raw)
				}
				if opened.Envelope.Version != tc.sv {
					t.Errorf("answered in %s, want %s", opened.Envelope.Version, tc.sv)
				}
				if tc.method != "" && !bytes.Contains(r.raw, []byte(tc.method)) {
					t.Errorf("the answer is not signed with %s:\n%s", tc.method, r.raw)
				}
			}
		})
	}
}

// Settings that cannot work are refused by New, each naming the problem.
func TestMessageConfigRefused(t *testing.T) {
	cert, key := testkit.Server().Cert, testkit.Server().RSAKey()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"certificate without key", Config{Message: &MessageSecurity{Certificate: cert, Bootstraps: []MessageBootstrap{BootstrapAnonymous}}}, "go together"},
		{"another key", Config{Message: &MessageSecurity{Certificate: cert, Key: testkit.Client().RSAKey(), Bootstraps: []MessageBootstrap{BootstrapAnonymous}}}, "not the RSA key"},
		{"username without users", Config{Message: &MessageSecurity{Certificate: cert, Key: key, Bootstraps: []MessageBootstrap{BootstrapUsername}}}, "needs Users"},
		{"mutual without CAs", Config{Message: &MessageSecurity{Certificate: cert, Key: key, Bootstraps: []MessageBootstrap{BootstrapMutual10}}}, "needs TrustedCAs"},
		{"no bootstrap", Config{Message: &MessageSecurity{Certificate: cert, Key: key}}, "accepts no bootstrap"},
		{"unknown bootstrap", Config{Message: &MessageSecurity{Certificate: cert, Key: key, Bootstraps: []MessageBootstrap{9}}}, "unknown message bootstrap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(tc.cfg)
			if err == nil {
				srv.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
	// Users and CAs give the default bootstraps; anonymous must be asked for.
	srv, err := New(Config{Users: map[string]string{"u": "p"}, TrustedCAs: testkit.Pool(), Message: &MessageSecurity{Certificate: cert, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.MessageSettings(); !slices.Equal(got.Bootstraps, []MessageBootstrap{BootstrapUsername, BootstrapMutual}) || got.Key != nil {
		t.Errorf("settings %+v", got)
	}
}
