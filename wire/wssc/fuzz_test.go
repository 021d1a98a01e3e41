package wssc

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseRSTR feeds arbitrary documents to the response parser in both
// versions, then to Key; whatever the input, they must return, not panic.
// A token they accept must have been kept as a substring of the input, a
// lifetime must not end before it begins, and a key Key returns must be
// of a size wire/keys accepts and, for a computed key, the one the
// requested size asks for. Seeds are in testdata/fuzz/FuzzParseRSTR.
func FuzzParseRSTR(f *testing.F) {
	client := make([]byte, 32)
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
		if err != nil {
			return
		}
		p := findPayload(d.Root())
		if p == nil {
			return
		}
		for _, v := range Versions {
			r, err := ParseResponse(d, p, v)
			if err != nil {
				continue
			}
			if r.Token != nil && !containsBytes(src, r.Token.Fragment.Bytes) {
				t.Fatalf("token bytes %q not in input", r.Token.Fragment.Bytes)
			}
			if lt := r.Lifetime; !lt.Created.IsZero() && !lt.Expires.IsZero() && lt.Expires.Before(lt.Created) {
				t.Fatalf("lifetime from %v to %v accepted", lt.Created, lt.Expires)
			}
			for _, entropy := range [][]byte{client, nil} {
				checkResponseKey(t, r, entropy)
			}
		}
	})
}

// checkResponseKey: a key r.Key returns is within the bounds of
// wire/keys, a computed one of the size asked for.
func checkResponseKey(t *testing.T, r *Response, entropy []byte) {
	t.Helper()
	k, err := r.Key(entropy)
	if err != nil {
		return
	}
	if keys.CheckKeyBits(len(k)*8) != nil {
		t.Fatalf("a key of %d bytes", len(k))
	}
	if want := r.KeySize; r.Proof == ComputedKey && want != 0 && len(k)*8 != want {
		t.Fatalf("a computed key of %d bits, KeySize %d", len(k)*8, want)
	}
}

// findPayload returns the first RSTR or RSTRC element, depth first.
func findPayload(root *etree.Element) *etree.Element {
	var found *etree.Element
	xmldoc.Walk(root, func(e *etree.Element) {
		if found == nil && (e.Tag == "RequestSecurityTokenResponse" || e.Tag == "RequestSecurityTokenResponseCollection") {
			found = e
		}
	})
	return found
}

func containsBytes(haystack, needle []byte) bool {
	return len(needle) > 0 && bytes.Contains(haystack, needle)
}

// FuzzParseDKT feeds arbitrary DerivedKeyTokens to ParseDKT and derives the
// key of any token it accepts: bounds are enforced before derivation, so no
// input may panic or make the derivation run long. An accepted token is
// within the bounds of wire/keys, derives a key of its Length, and is
// written by Element into a token that reads back with the same
// derivation and key. Seeds are in testdata/fuzz/FuzzParseDKT.
func FuzzParseDKT(f *testing.F) {
	base := make([]byte, 32)
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{})
		if err != nil {
			return
		}
		for _, v := range Versions {
			dkt, err := ParseDKT(d.Root(), v)
			if err != nil {
				continue
			}
			k, err := dkt.Key(base)
			if err != nil {
				t.Fatalf("accepted token %+v does not derive: %v", dkt.Derivation, err)
			}
			if want := dkt.Derivation.Length; want != 0 && len(k) != want || want == 0 && len(k) != keys.DefaultLength {
				t.Fatalf("derived %d bytes, Length says %d", len(k), want)
			}
			if err := dkt.Derivation.Check(); err != nil {
				t.Fatalf("accepted token out of bounds: %v", err)
			}
			checkDKTRoundTrip(t, dkt, v, k, base)
		}
	})
}

// checkDKTRoundTrip writes dkt with Element and reads it back: the same
// reference, the same key.
func checkDKTRoundTrip(t *testing.T, dkt *DKT, v Version, key, base []byte) {
	t.Helper()
	if dkt.Base.Reference == nil {
		return // Element writes direct references only
	}
	el, err := dkt.Element(v)
	if err != nil {
		t.Fatalf("accepted token cannot be written: %v", err)
	}
	out := xmldoc.Serialize(el)
	d, err := xmldoc.Parse(out, xmldoc.Options{})
	if err != nil {
		t.Fatalf("written token does not parse: %v\n%s", err, out)
	}
	back, err := ParseDKT(d.Root(), v)
	if err != nil {
		t.Fatalf("written token refused: %v\n%s", err, out)
	}
	k, err := back.Key(base)
	if err != nil || !bytes.Equal(k, key) || back.Base.Reference == nil || *back.Base.Reference != *dkt.Base.Reference {
		t.Fatalf("written token reads back otherwise (%v):\n%s", err, out)
	}
}
