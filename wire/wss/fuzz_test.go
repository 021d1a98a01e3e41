package wss

import (
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseParts runs every parser of this package on every element of an
// arbitrary document: none may panic, and what parses must survive a
// write-and-read round trip with the same meaning. Seeds are in
// testdata/fuzz/FuzzParseParts.
func FuzzParseParts(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{})
		if err != nil {
			return
		}
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			ID(el)
			_, _ = FindSecurity(el)
			_, _ = ParseX509Token(el)
			if ts, err := ParseTimestamp(el); err == nil {
				_ = ts.Validate(ts.Created, 0)
				roundTrip(t, ts.Element(), func(e *etree.Element) bool {
					back, err := ParseTimestamp(e)
					return err == nil && back.Created.Equal(ts.Created.Truncate(time.Millisecond)) && back.ID == ts.ID
				})
			}
			if u, err := ParseUsernameToken(el); err == nil {
				_ = u.Verify("password")
				_ = u.String()
			}
			if s, err := ParseSTR(el); err == nil && s.Reference != nil {
				roundTrip(t, ReferenceSTR(*s.Reference), func(e *etree.Element) bool {
					back, err := ParseSTR(e)
					return err == nil && back.Reference != nil && *back.Reference == *s.Reference
				})
			}
		})
	})
}

func roundTrip(t *testing.T, el *etree.Element, same func(*etree.Element) bool) {
	t.Helper()
	out := xmldoc.Serialize(el)
	d, err := xmldoc.Parse(out, xmldoc.Options{})
	if err != nil {
		t.Fatalf("built element does not parse: %v\n%s", err, out)
	}
	if !same(d.Root()) {
		t.Fatalf("round trip changed the meaning: %s", out)
	}
}
