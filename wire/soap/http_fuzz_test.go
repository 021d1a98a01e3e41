package soap

import "testing"

// FuzzActionFromHTTP reads arbitrary Content-Type and SOAPAction headers.
// Whatever they hold it returns, and what it accepts, written back by
// ContentType, reads the same. Seeds are in
// testdata/fuzz/FuzzActionFromHTTP.
func FuzzActionFromHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType, soapAction string) {
		v, action, err := ActionFromHTTP(contentType, soapAction)
		if err != nil {
			return
		}
		if v != V11 && v != V12 {
			t.Fatalf("version %v accepted", v)
		}
		ct, sa, err := v.ContentType(action)
		if err != nil {
			return // an action ContentType refuses to write (control characters)
		}
		v2, action2, err := ActionFromHTTP(ct, sa)
		if err != nil || v2 != v || action2 != action {
			t.Fatalf("%s %q written as %q / %q reads back as %s %q (%v)", v, action, ct, sa, v2, action2, err)
		}
	})
}
