package wssc

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseRSTR feeds arbitrary documents to the response parser in both
// versions, then to Key; whatever the input, they must return, not panic,
// and a token they accept must have been kept as a substring of the input.
// Seeds are in testdata/fuzz/FuzzParseRSTR.
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
			_, _ = r.Key(client)
			_, _ = r.Key(nil)
		}
	})
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
// input may panic or make the derivation run long.
func FuzzParseDKT(f *testing.F) {
	const (
		str      = `<o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:Reference URI="#sct"/></o:SecurityTokenReference>`
		nonce    = `<c:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</c:Nonce>`
		dktOpen  = `<c:DerivedKeyToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc">`
		dktClose = `</c:DerivedKeyToken>`
	)
	for _, body := range []string{
		str + nonce,
		str + `<c:Offset>0</c:Offset><c:Length>24</c:Length>` + nonce,
		str + `<c:Generation>1</c:Generation><c:Length>16</c:Length><c:Label>L</c:Label>` + nonce,
		str + `<c:Properties/><c:Length>32</c:Length>` + nonce,
	} {
		f.Add([]byte(dktOpen + body + dktClose))
	}
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
			if want := dkt.Derivation.Length; want != 0 && len(k) != want {
				t.Fatalf("derived %d bytes, Length says %d", len(k), want)
			}
		}
	})
}
