package xmldoc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestMaxTokenBytes: a token longer than MaxTokenBytes is refused before
// it is decoded, whatever kind of token it is, and at a cost that does
// not grow with it; tokens at the limit and a document longer than the
// limit made of short tokens are accepted. (Hardening: a 3 MiB attribute
// in a request's Header cost scproxy 35 MB and 50 ms to read before
// there was a token limit for headers.)
func TestMaxTokenBytes(t *testing.T) {
	const limit = 1024
	big := strings.Repeat("x", 3<<20)
	at := func(n int) string { return strings.Repeat("y", n) }
	cases := []struct {
		name   string
		src    string
		refuse bool
	}{
		{"attribute value", `<r a="` + big + `"/>`, true},
		{"attribute value with > inside", `<r a=">` + big + `"/>`, true},
		{"attribute value in single quotes", `<r a='` + big + `'/>`, true},
		{"character data", `<r>` + big + `</r>`, true},
		{"comment", `<r><!--` + big + `--></r>`, true},
		{"CDATA section", `<r><![CDATA[` + big + `]]></r>`, true},
		{"processing instruction", `<r><?pi ` + big + `?></r>`, true},
		{"element name", `<r><` + big + `/></r>`, true},
		{"end tag", `<r></r` + strings.Repeat(" ", 2*limit) + `>`, true},
		{"attribute at the limit", `<r a="` + at(limit-len(`<r a=""/>`)) + `"/>`, false},
		{"text at the limit", `<r>` + at(limit) + `</r>`, false},
		{"comment at the limit", `<r><!--` + at(limit-len(`<!---->`)) + `--></r>`, false},
		{"long document of short tokens", `<r>` + strings.Repeat(`<c a="1">text</c>`, 4*limit) + `</r>`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			src := []byte(tc.src)
			n, _ := allocated(func() {
				_, err = xmldoc.Parse(src, xmldoc.Options{Limits: xmldoc.Limits{MaxTokenBytes: limit, MaxBytes: 8 << 20, MaxElements: 8 * limit}})
			})
			var le *xmldoc.LimitError
			switch {
			case !tc.refuse && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refuse && (!errors.As(err, &le) || le.Limit != "MaxTokenBytes"):
				t.Fatalf("err = %v, want MaxTokenBytes", err)
			case tc.refuse && n > 64<<10:
				t.Errorf("allocated %d bytes to refuse a %d-byte document, want it independent of the token's size", n, len(tc.src))
			}
		})
	}
}

// TestMaxTokenBytesDefault: without MaxTokenBytes a token may be as long
// as the document may be.
func TestMaxTokenBytesDefault(t *testing.T) {
	src := `<r a="` + strings.Repeat("x", 3<<20) + `">` + strings.Repeat("y", 3<<20) + `</r>`
	if _, err := xmldoc.Parse([]byte(src), xmldoc.Options{Limits: xmldoc.Limits{MaxBytes: 8 << 20}}); err != nil {
		t.Fatal(err)
	}
}
