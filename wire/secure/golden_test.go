package secure

import (
	"fmt"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
)

// TestGoldenContextHeader keeps the bytes of a message secured with a
// context, as scproxy sends it to a WCF service (SOAP 1.2, WS-Addressing
// 1.0), in both WS-SecureConversation versions, signed with the context
// key and with a derived key, with a fixed clock and a fixed Rand, in
// testdata/TestGoldenContextHeader/ (go test -update rewrites them).
func TestGoldenContextHeader(t *testing.T) {
	for scName, c := range contexts(t) {
		for _, derive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/derive=%v", scName, derive), func(t *testing.T) {
				o := ContextOptions{
					Options:         Options{Now: fixedNow, Rand: testkit.Rand(t.Name()), SignBody: derive, IDPrefix: "_scp-"},
					SignatureMethod: dsig.HMACSHA1,
					Derive:          derive,
				}
				out, err := WithContext(appEnvelope(t, soap.V12), c, o)
				if err != nil {
					t.Fatal(err)
				}
				testkit.Golden(t, out)
			})
		}
	}
}
