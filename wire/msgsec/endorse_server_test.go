package msgsec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// endorsedByContext is a bootstrap request (EncryptedKey for the test
// service, with a UsernameToken) endorsed by the test context, and what
// Protect returned for it.
func endorsedByContext(t *testing.T, order Order, derived bool) *Sent {
	t.Helper()
	c := config(Client, Basic256, order, derived)
	c.SignatureConfirmation = true
	ut, err := wss.NewUsernameToken("ut", "alice", "secret", wss.PasswordText, now, testkit.Rand("ut"))
	if err != nil {
		t.Fatal(err)
	}
	sent, err := mustProfile(t, c).Protect(request(t, soap.V12, payload(300), testkit.Rand("ce")), Outgoing{
		Token:            Token{Recipient: testkit.Server().Cert},
		Username:         ut,
		EndorsingContext: &Context{Token: newSCT(t, c.Version), Key: contextKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestOpenEndorsedByContext: a service opens a request under the
// bootstrap binding endorsed by a security context (WCF's and CXF's Renew)
// in every protection order, with and without derived keys; it learns the
// context, confirms both signatures in an answer keyed by the request's
// fresh key, and the client accepts that answer.
func TestOpenEndorsedByContext(t *testing.T) {
	own := &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		for _, derived := range []bool{false, true} {
			t.Run(fmt.Sprintf("order %d derived %v", order, derived), func(t *testing.T) {
				sent := endorsedByContext(t, order, derived)
				sc := config(Server, Basic256, order, derived)
				sc.SignatureConfirmation = true
				server := mustProfile(t, sc)
				in, err := server.Open(parse(t, sent.Bytes), Expect{Own: own, ContextKeys: keysOf(contextKey, bytes.Repeat([]byte{1}, 32))})
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case in.EndorsedBy == nil || in.EndorsedBy.Identifier != sctIdentifier:
					t.Fatalf("endorsed by %+v, want context %s", in.EndorsedBy, sctIdentifier)
				case !bytes.Equal(in.EndorsedBy.Fragment.Bytes, newSCT(t, sc.Version).Fragment.Bytes):
					t.Fatalf("the endorsing SCT reads %q, not as sent", in.EndorsedBy.Fragment.Bytes)
				case in.Reply.Key == nil || in.Reply.Context != nil:
					t.Fatal("the answer is not keyed by the request's fresh key")
				case in.Username == nil || in.Username.Username != "alice":
					t.Fatal("the UsernameToken is lost")
				case len(in.SignatureValues) != 2:
					t.Fatalf("%d signature values to confirm, want 2", len(in.SignatureValues))
				}
				ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(100)), Outgoing{Token: in.Reply, Confirm: in.SignatureValues})
				if err != nil {
					t.Fatal(err)
				}
				cc := config(Client, Basic256, order, derived)
				cc.SignatureConfirmation = true
				if _, err := mustProfile(t, cc).Open(parse(t, ans.Bytes), Expect{Request: sent}); err != nil {
					t.Fatalf("the client refuses the answer: %v", err)
				}
			})
		}
	}
}

// TestOpenEndorsedByContextAndCertificate: under MutualCertificate a
// Renew is endorsed by the client's certificate and by the context, each
// over the primary signature; the service opens it in every protection
// order, learning both, and the client accepts the answer confirming the
// three signatures.
func TestOpenEndorsedByContextAndCertificate(t *testing.T) {
	own := &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	mine := &Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		t.Run(fmt.Sprint("order ", int(order)), func(t *testing.T) {
			cc, sc := config(Client, Basic256, order, true), config(Server, Basic256, order, true)
			cc.SignatureConfirmation, sc.SignatureConfirmation = true, true
			client, server := mustProfile(t, cc), mustProfile(t, sc)
			sent, err := client.Protect(request(t, soap.V12, payload(300), testkit.Rand("mc")), Outgoing{
				Token: Token{Recipient: own.Cert}, Endorsing: mine, EndorsingContext: &Context{Token: newSCT(t, cc.Version), Key: contextKey},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sent.SignatureValues) != 3 {
				t.Fatalf("%d signature values, want 3", len(sent.SignatureValues))
			}
			in, err := server.Open(parse(t, sent.Bytes), Expect{Own: own, Endorsed: true, ContextKeys: keysOf(contextKey)})
			if err != nil {
				t.Fatal(err)
			}
			if in.EndorsedBy == nil || in.EndorsedBy.Identifier != sctIdentifier || in.PeerCert == nil || !in.PeerCert.Equal(mine.Cert) || len(in.SignatureValues) != 3 {
				t.Fatalf("endorsed by %v and %v, %d signature values", in.EndorsedBy, in.PeerCert, len(in.SignatureValues))
			}
			ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(100)), Outgoing{Token: in.Reply, Confirm: in.SignatureValues})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.Open(parse(t, ans.Bytes), Expect{Request: sent}); err != nil {
				t.Fatalf("the client refuses the answer: %v", err)
			}
			if _, err := server.Open(parse(t, sent.Bytes), Expect{Own: own, Endorsed: true, ContextKeys: keysOf(bytes.Repeat([]byte{2}, 32))}); err == nil {
				t.Fatal("opened with another context key")
			}
		})
	}
}

// TestOpenContextKeyedNotEndorsedByContext: the context's endorsement
// belongs to the bootstrap binding; a message keyed by a context and
// endorsed by it too is refused.
func TestOpenContextKeyedNotEndorsedByContext(t *testing.T) {
	sct := newSCT(t, wssc.Feb2005)
	sent, err := mustProfile(t, config(Client, Basic256, SignBeforeEncrypt, true)).Protect(request(t, soap.V12, payload(100), testkit.Rand("kc")), Outgoing{
		Token:            Token{Context: &Context{Token: sct, Key: contextKey}},
		EndorsingContext: &Context{Token: sct, Key: contextKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustProfile(t, config(Server, Basic256, SignBeforeEncrypt, true)).Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(contextKey)})
	if err == nil || !strings.Contains(err.Error(), "keyed by a security context is not endorsed by one") {
		t.Fatalf("error %v, want the refusal of a context endorsing a message it keys", err)
	}
}

// TestOpenEndorsedByContextRefuses: an endorsement by a key other than
// the context's current one, one naming another context than the SCT
// carried, and one not over the primary signature are refused, each
// saying why.
func TestOpenEndorsedByContextRefuses(t *testing.T) {
	own := &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	other := bytes.Repeat([]byte{0x33}, 32)
	anyContext := func(string) ([][]byte, error) { return [][]byte{contextKey}, nil }
	// endorsing is the context's endorsing Signature of a
	// sign-then-encrypt message (the second, in clear).
	endorsing := func(sec *etree.Element) *etree.Element {
		sigs := xmldoc.Children(sec, nameSignature)
		if len(sigs) != 2 {
			t.Fatalf("%d Signatures in clear", len(sigs))
		}
		return sigs[1]
	}
	// referenceIn is the Reference of el's SecurityTokenReference.
	referenceIn := func(el *etree.Element) *etree.Element {
		r := el.FindElement(".//SecurityTokenReference/Reference")
		if r == nil {
			t.Fatal("no reference")
		}
		return r
	}
	cases := []struct {
		name    string
		derived bool
		keys    func(string) ([][]byte, error)
		edit    func(env *soap.Envelope, sec *etree.Element)
		says    string
	}{
		{name: "another key", keys: keysOf(other), says: "signature"},
		{name: "another key, derived", derived: true, keys: keysOf(other), says: "signature"},
		{name: "the previous key, in its rollover period", derived: true, keys: keysOf(other, contextKey), says: "signature"},
		{name: "unknown context", keys: keysOf(), says: "unknown security context"},
		{name: "names another context", keys: anyContext, says: "not the key of the security context the message carries",
			edit: func(_ *soap.Envelope, sec *etree.Element) {
				referenceIn(endorsing(sec).FindElement("KeyInfo")).CreateAttr("URI", "urn:uuid:another-context")
			}},
		{name: "derived from another context", derived: true, keys: anyContext, says: "not the key of the security context the message carries",
			edit: func(_ *soap.Envelope, sec *etree.Element) {
				id := strings.TrimPrefix(referenceIn(endorsing(sec).FindElement("KeyInfo")).SelectAttrValue("URI", ""), "#")
				for _, dkt := range sec.SelectElements("DerivedKeyToken") {
					if v, _ := wss.ID(dkt); v == id {
						referenceIn(dkt).CreateAttr("URI", "urn:uuid:another-context")
					}
				}
			}},
		{name: "over the Timestamp, not the signature", keys: anyContext, says: "unexpected signature",
			edit: func(_ *soap.Envelope, sec *etree.Element) {
				e := endorsing(sec)
				ki := e.FindElement("KeyInfo/SecurityTokenReference").Copy()
				sec.RemoveChild(e)
				key, err := dsig.HMACKey(dsig.HMACSHA1, contextKey)
				if err != nil {
					t.Fatal(err)
				}
				s := dsig.Signer{Key: key, KeyInfo: ki}
				if _, err := s.Sign(sec, dsig.Reference{Element: sec.SelectElement("Timestamp")}); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := endorsedByContext(t, SignBeforeEncrypt, c.derived).Bytes
			if c.edit != nil {
				msg = edit(t, msg, c.edit)
			}
			sc := config(Server, Basic256, SignBeforeEncrypt, c.derived)
			sc.SignatureConfirmation = true
			in, err := mustProfile(t, sc).Open(parse(t, msg), Expect{Own: own, ContextKeys: c.keys})
			if err == nil {
				t.Fatalf("opened, endorsed by %v", in.EndorsedBy)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}
