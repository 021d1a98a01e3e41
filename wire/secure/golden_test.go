package secure

import (
	"fmt"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/xmldoc"
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

// TestGoldenDerivedContextHeader keeps the bytes of a message secured by
// the precomputed header with a derived key (what scproxy sends under
// --derived-keys: the Timestamp signed with a key derived from the context
// key, a DerivedKeyToken with a fresh nonce), in both WS-SecureConversation
// versions, with a fixed clock and a fixed Rand.
func TestGoldenDerivedContextHeader(t *testing.T) {
	for scName, c := range contexts(t) {
		t.Run(scName, func(t *testing.T) {
			o := ContextOptions{Options: Options{Now: fixedNow, Rand: testkit.Rand(t.Name()), IDPrefix: "_scp-"}, Derive: true}
			h, err := NewContextHeader(soap.V12, c, o)
			if err != nil {
				t.Fatal(err)
			}
			m, err := splice.Read(appEnvelope(t, soap.V12).Bytes(), splice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := SplicedContext(m, h, c, o, xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, out)
		})
	}
}
