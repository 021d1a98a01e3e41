package msgsec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestRollover: after a renewal both sides accept the previous key for a
// while (the caller's ContextKeys lists it after the current one); a
// service answers with the key the request used; once the previous key
// is no longer listed, a message keyed by it is refused.
func TestRollover(t *testing.T) {
	oldKey, newKey := contextKey, bytes.Repeat([]byte{0xa5}, 32)
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		t.Run(order.String(), func(t *testing.T) {
			client := mustProfile(t, config(Client, Basic256, order, true))
			server := mustProfile(t, config(Server, Basic256, order, true))
			// A request still keyed by the old key, in flight across the
			// renewal.
			sent, err := client.Protect(request(t, soap.V12, payload(300), testkit.Rand("r")), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: oldKey, Include: true}}})
			if err != nil {
				t.Fatal(err)
			}
			in, err := server.Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(newKey, oldKey)})
			if err != nil {
				t.Fatalf("service refused the previous key during the rollover: %v", err)
			}
			if !bytes.Equal(in.Reply.Context.Key, oldKey) {
				t.Fatal("the service would answer with another key than the request's")
			}
			if _, err := server.Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(newKey)}); err == nil {
				t.Fatal("service accepted the previous key after the rollover")
			}
			ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(300)), Outgoing{Token: in.Reply})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.Open(parse(t, ans.Bytes), Expect{Request: sent, ContextKeys: keysOf(newKey, oldKey)}); err != nil {
				t.Fatalf("client refused an answer keyed by the previous key during the rollover: %v", err)
			}
			_, err = client.Open(parse(t, ans.Bytes), Expect{Request: sent, ContextKeys: keysOf(newKey)})
			if err == nil {
				t.Fatal("client accepted the previous key after the rollover")
			}
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, errBadSignature) {
				t.Errorf("refused with %v, want a decryption or signature failure", err)
			}
		})
	}
}
