package msgsec

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
)

// An attacker without the context key, who knows its Identifier (sent in
// clear), sets the signing DKT's Length to 1 (fresh Nonce) and tries the
// 256 possible HMAC keys: every one is refused, a derived key being at
// least 16 bytes.
func TestShortDerivedKeyRefused(t *testing.T) {
	for _, order := range []Order{EncryptBeforeSign, SignBeforeEncrypt} {
		f := newFixture(t, order, false, "review")
		accepted := -1
		for k := 0; k < 256; k++ {
			msg := edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
				sig := sec.FindElement("Signature")
				if sig == nil {
					t.Skip("signature encrypted")
				}
				ref := sig.FindElement("KeyInfo/SecurityTokenReference/Reference")
				uri := ref.SelectAttrValue("URI", "")
				var dkt *etree.Element
				for _, el := range sec.ChildElements() {
					if id, ok := wss.ID(el); ok && "#"+id == uri {
						dkt = el
					}
				}
				if dkt == nil || dkt.Tag != "DerivedKeyToken" {
					t.Fatalf("no dkt for %s", uri)
				}
				if l := dkt.FindElement("Length"); l != nil {
					l.SetText("1")
				} else {
					nl := dkt.CreateElement(dkt.Space + ":Length")
					nl.SetText("1")
				}
				dkt.FindElement("Nonce").SetText(base64.StdEncoding.EncodeToString([]byte("attacker-nonce!!")))
				resign(t, sec, []byte{byte(k)})
			})
			env := parse(t, msg)
			if _, err := f.client.Open(env, f.expect()); err == nil {
				accepted = k
				break
			} else if k == 0 {
				t.Logf("order %v k=0: %v", order, err)
			}
		}
		if accepted >= 0 {
			t.Errorf("order %v: a signature keyed by a 1-byte derived key was accepted (guess %d)", order, accepted)
		}
	}
}

// The context-endorsing signature of a bootstrap Renew keyed by a DKT of
// Length 1: 256 guesses prove possession of a context the attacker does
// not hold.
func TestShortDerivedKeyEndorsementRefused(t *testing.T) {
	own := &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	sent := endorsedByContext(t, SignBeforeEncrypt, true)
	sc := config(Server, Basic256, SignBeforeEncrypt, true)
	sc.SignatureConfirmation = true
	server := mustProfile(t, sc)
	for k := 0; k < 256; k++ {
		msg := edit(t, sent.Bytes, func(env *soap.Envelope, sec *etree.Element) {
			var endorsing *etree.Element
			for _, s := range sec.SelectElements("Signature") {
				if len(s.FindElements("SignedInfo/Reference")) == 1 {
					endorsing = s
				}
			}
			if endorsing == nil {
				t.Fatal("no clear endorsing signature")
			}
			uri := endorsing.FindElement("KeyInfo/SecurityTokenReference/Reference").SelectAttrValue("URI", "")
			var dkt *etree.Element
			for _, el := range sec.ChildElements() {
				if id, ok := wss.ID(el); ok && "#"+id == uri {
					dkt = el
				}
			}
			if l := dkt.FindElement("Length"); l != nil {
				l.SetText("1")
			} else {
				dkt.CreateElement(dkt.Space + ":Length").SetText("1")
			}
			dkt.FindElement("Nonce").SetText(base64.StdEncoding.EncodeToString([]byte("attacker-nonce!!")))
			si := endorsing.FindElement("SignedInfo")
			canon, err := c14n.Exclusive(si, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := hmac.New(sha1.New, []byte{byte(k)})
			m.Write(canon)
			endorsing.FindElement("SignatureValue").SetText(base64.StdEncoding.EncodeToString(m.Sum(nil)))
		})
		in, err := server.Open(parse(t, msg), Expect{Own: own, ContextKeys: keysOf(contextKey)})
		if err == nil && in.EndorsedBy != nil {
			t.Fatalf("context endorsement forged with a 1-byte key (guess %d): endorsed by %s", k, in.EndorsedBy.Identifier)
		}
		if k == 0 {
			t.Log(err)
		}
	}
}

// noMsgID is a request without WS-Addressing.
func noMsgID(t *testing.T) *soap.Envelope {
	env := soap.NewEnvelope(soap.V12)
	setBody(t, env, payload(100))
	return env
}

// Without a MessageID in the request nothing ties an answer to it (steady
// state answers carry no SignatureConfirmation): the answer to another
// request of the context is refused, as is any.
func TestAnswerToRequestWithoutMessageIDRefused(t *testing.T) {
	cc, sc := config(Client, Basic256, SignBeforeEncryptAndEncryptSignature, true), config(Server, Basic256, SignBeforeEncryptAndEncryptSignature, true)
	cc.Rand, sc.Rand = testkit.Rand("c"), testkit.Rand("s")
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	tok := Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: contextKey, Include: true}}
	sentA, err := client.Protect(noMsgID(t), Outgoing{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	sentB, err := client.Protect(noMsgID(t), Outgoing{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	in, err := server.Open(parse(t, sentA.Bytes), Expect{ContextKeys: keysOf(contextKey)})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := server.Protect(response(t, soap.V12, "", "<a xmlns='urn:x'>answer to A</a>"), Outgoing{Token: in.Reply})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Open(parse(t, ans.Bytes), Expect{Request: sentB, ContextKeys: keysOf(contextKey)}); err == nil {
		t.Error("the answer to request A was accepted as the answer to request B (no MessageID, RelatesTo unchecked)")
	} else {
		t.Log(err)
	}
}

// A header block added to a genuine answer on the way verifies (it is
// not signed) but does not reach the caller.
func TestUnsignedHeaderDropped(t *testing.T) {
	f := newFixture(t, SignBeforeEncryptAndEncryptSignature, false, "hdr")
	msg := edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
		h := env.Header.CreateElement("evil:Injected")
		h.CreateAttr("xmlns:evil", "urn:attacker")
		h.SetText("not signed")
	})
	out, err := f.client.Open(parse(t, msg), f.expect())
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out.Envelope.Bytes()); strings.Contains(s, "not signed") {
		t.Errorf("an unsigned header injected into the answer reaches the caller: %s", s[:300])
	}
}
