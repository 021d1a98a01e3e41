package xmldoc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestSyntaxErrorOffsetPointsAtTheMarkup: the offset in a SyntaxError lies
// within the offending token (Parse reports the position just past it), so
// a logged rejection of a peer's message can be traced to the bytes at fault
// even when the same construct appears earlier in a valid form.
func TestSyntaxErrorOffsetPointsAtTheMarkup(t *testing.T) {
	cases := []struct{ name, src, token string }{
		{"unbound element prefix after a bound one", `<r xmlns:q="urn:q"><q:c/><p:c/></r>`, `<p:c/>`},
		{"unbound attribute prefix", `<r><a x="1"/><c p:x="1"/></r>`, `<c p:x="1"/>`},
		{"mismatched end tag", `<r><a></a><a></b></r>`, `</b>`},
		{"duplicate attribute", `<r><a k="1"/><a k="1" k="2"/></r>`, `<a k="1" k="2"/>`},
		{"unknown entity", `<r>&amp;&bogus;</r>`, `&bogus;`},
		{"second root", `<r/><s/>`, `<s/>`},
		{"text after the root", `<r/> x`, ` x`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			start := int64(strings.LastIndex(tc.src, tc.token))
			if end := start + int64(len(tc.token)); se.Offset <= start || se.Offset > end {
				t.Errorf("offset %d, want within (%d, %d] of %q", se.Offset, start, end, tc.src)
			}
			if !strings.Contains(err.Error(), "byte ") {
				t.Errorf("message %q does not give the offset", err)
			}
		})
	}
}
