package wssc

import (
	"testing"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseRequest feeds arbitrary RequestSecurityTokens to ParseRequest,
// as an issuer receives them from anyone. Whatever it accepts must be
// internally consistent: a known operation with the target it needs, and
// sizes within the bounds of wire/keys. Seeds (the CoreWCF Issue and
// Cancel, a Renew of each version) are in testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{})
		if err != nil {
			return
		}
		for _, v := range Versions {
			r, err := ParseRequest(d.Root(), v)
			if err != nil {
				continue
			}
			if r.Version != v || (r.Operation != Issue) == (r.Target.Identifier == "") {
				t.Fatalf("inconsistent request %+v", r)
			}
			if r.KeySize != 0 && keys.CheckKeyBits(r.KeySize) != nil {
				t.Fatalf("KeySize %d out of bounds", r.KeySize)
			}
			if n := len(r.ClientEntropy) * 8; r.ClientEntropy != nil && (n < keys.MinKeyBits || n > keys.MaxKeyBits) {
				t.Fatalf("client entropy of %d bits", n)
			}
		}
	})
}
