package xmldoc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

const utf8BOM = "\xEF\xBB\xBF"

// TestOffsetsIndexTheInputWithBOM: the offsets Parse reports (to Stop, by
// StoppedAt, in a SyntaxError) index the input as the caller gave it, a
// UTF-8 byte order mark included, so a caller that cuts its own bytes by
// them cuts in the right place.
func TestOffsetsIndexTheInputWithBOM(t *testing.T) {
	for _, prefix := range []string{"", utf8BOM} {
		src := prefix + `<r><a x="1"/><b>text</b></r>`
		var got string
		stop := func(el *etree.Element, _, start, end int) bool {
			if el.Tag != "b" {
				return false
			}
			got = src[start:end]
			return true
		}
		d, err := xmldoc.Parse([]byte(src), xmldoc.Options{Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		if got != "<b>" {
			t.Errorf("prefix %q: Stop's range holds %q, want <b>", prefix, got)
		}
		if start, end, ok := d.StoppedAt(); !ok || src[start:end] != "<b>" {
			t.Errorf("prefix %q: StoppedAt holds %q", prefix, src[start:end])
		}

		// The offset of an error moves by the mark's length.
		bad := `<r><a/><p:c/></r>`
		var off [2]int64
		for i, doc := range []string{bad, prefix + bad} {
			_, err = xmldoc.Parse([]byte(doc), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			off[i] = se.Offset
		}
		if off[1] != off[0]+int64(len(prefix)) {
			t.Errorf("prefix %q: error at byte %d, want %d", prefix, off[1], off[0]+int64(len(prefix)))
		}
	}
}

// TestUTF16Refused: a UTF-16 document is refused as such (ErrEncoding,
// naming UTF-16), with or without a byte order mark, instead of failing
// as malformed UTF-8.
func TestUTF16Refused(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-16"?><r/>`
	le, be := []byte{0xFF, 0xFE}, []byte{0xFE, 0xFF}
	for _, c := range doc {
		le = append(le, byte(c), 0)
		be = append(be, 0, byte(c))
	}
	for name, src := range map[string][]byte{"LE BOM": le, "BE BOM": be, "LE": le[2:], "BE": be[2:]} {
		_, err := xmldoc.Parse(src, xmldoc.Options{})
		if !errors.Is(err, xmldoc.ErrEncoding) || !strings.Contains(err.Error(), "UTF-16") {
			t.Errorf("%s: err = %v, want ErrEncoding naming UTF-16", name, err)
		}
	}
}
