package msgsec

import (
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestGoldenProtect records what a client sends in the steady state, in
// each protection order and SOAP version, so that any change to the wire
// format shows in review (go test -run TestGoldenProtect -update).
func TestGoldenProtect(t *testing.T) {
	for _, v := range []soap.Version{soap.V11, soap.V12} {
		for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
			t.Run(v.String()+"/"+order.String(), func(t *testing.T) {
				c := config(Client, Basic256, order, true)
				sent, err := mustProfile(t, c).Protect(request(t, v, payload(200), testkit.Rand("golden")), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: contextKey, Include: true}}})
				if err != nil {
					t.Fatal(err)
				}
				testkit.Golden(t, sent.Bytes)
			})
		}
	}
}
