package wssc

import (
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestGoldenRST keeps the bytes of the Issue, Renew and Cancel requests
// scproxy writes in both WS-SecureConversation versions, with a fixed
// Rand for the entropy, in testdata/TestGoldenRST/ (go test -update
// rewrites them).
func TestGoldenRST(t *testing.T) {
	target := ContextRef{Identifier: "urn:uuid:6f1e3a52-9d0b-4b5e-8c1a-2f7d4e6a9b10", Instance: "urn:uuid:0a9b8c7d-6e5f-4a3b-9c2d-1e0f2a3b4c5d"}
	for _, v := range Versions {
		// Each request has a Rand of its own, so that each subtest alone
		// writes the same bytes.
		params := func(op string) Params {
			return Params{Version: v, Mode: CombinedEntropy, Rand: testkit.Rand(op + " " + v.String())}
		}
		t.Run(v.String()+"/issue", func(t *testing.T) {
			r, err := BuildIssue(params("issue"))
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, xmldoc.Serialize(r.Element))
		})
		t.Run(v.String()+"/renew", func(t *testing.T) {
			r, err := BuildRenew(params("renew"), target)
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, xmldoc.Serialize(r.Element))
		})
		t.Run(v.String()+"/cancel", func(t *testing.T) {
			el, err := BuildCancel(v, target)
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, xmldoc.Serialize(el))
		})
	}
}
