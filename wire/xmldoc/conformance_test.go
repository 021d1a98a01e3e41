package xmldoc_test

import (
	"errors"
	"testing"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The cases below were found by TestParseAgreesWithLibxml2 after the
// well-formedness fixes of 73a353b; each is pinned here by hand so that
// its fix is checked whatever the random mutants happen to reach. libxml2
// (xmllint --noout) rejects every document in the rejection tables.

// TestParseRejectsNonCharacterReferences: a character reference must name
// a Char (XML 1.0 §4.1, WFC: Legal Character); surrogate code points are
// none. encoding/xml turns &#xD800; into U+FFFD and goes on, so two
// different references would canonicalize, and be signed, as the same
// bytes, in a document every peer refuses.
func TestParseRejectsNonCharacterReferences(t *testing.T) {
	cases := []struct{ name, src string }{
		{"surrogate in text", `<r>&#xD800;</r>`},
		{"low surrogate in text, decimal", `<r>&#57343;</r>`},
		{"surrogate in an attribute", `<r a="&#xDBFF;"/>`},
		{"surrogate in a normalized attribute", "<r a=\"&#55296;\tx\"/>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %q", err, serializeOrNil(d))
			}
		})
	}
}

// TestParseRejectsContentOutsideRoot: after and before the root element
// only white space, comments and PIs may appear (XML 1.0 §2.1, Misc). A
// character reference or CDATA section is content even when it decodes to
// white space; encoding/xml hands it over decoded, so Parse must judge the
// raw bytes.
func TestParseRejectsContentOutsideRoot(t *testing.T) {
	cases := []struct{ name, src string }{
		{"reference to a space after the root", `<r/>&#x20;`},
		{"reference to a tab after the root", "<r/>\n&#9;\n"},
		{"reference before the root", `&#xD;<r/>`},
		{"blank CDATA section after the root", `<r/><![CDATA[ ]]>`},
		{"empty CDATA section before the root", `<![CDATA[]]><r/>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %q", err, serializeOrNil(d))
			}
		})
	}
	// Literal white space around the root stays legal.
	if _, err := xmldoc.Parse([]byte("\r\n\t <r/>\r\n \t"), xmldoc.Options{}); err != nil {
		t.Errorf("white space around the root: %v", err)
	}
}

// TestParseRejectsMalformedXMLDeclaration: VersionInfo is mandatory in the
// XML declaration (XML 1.0 §2.8, production 23); encoding/xml only checks
// the version when one is given.
func TestParseRejectsMalformedXMLDeclaration(t *testing.T) {
	cases := []struct{ name, src string }{
		{"empty declaration", `<?xml ?><r/>`},
		{"encoding without version", `<?xml encoding="UTF-8"?><r/>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %q", err, serializeOrNil(d))
			}
		})
	}
	if _, err := xmldoc.Parse([]byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><r/>`), xmldoc.Options{}); err != nil {
		t.Errorf("complete declaration: %v", err)
	}
}

// TestParseRejectsPITargetRunningIntoData: a PI target is followed by white
// space or by "?>" (XML 1.0 §2.6). 73a353b checks the byte after the target
// but takes a lone "?" for the start of "?>".
func TestParseRejectsPITargetRunningIntoData(t *testing.T) {
	cases := []struct{ name, src string }{
		{"question mark then data", `<r><?y?ta?></r>`},
		{"two question marks", `<r><?y??></r>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %q", err, serializeOrNil(d))
			}
		})
	}
	for _, ok := range []string{`<r><?y?></r>`, `<r><?y ?></r>`, "<r><?y\tdata?></r>", `<r><?y a?b?></r>`} {
		if _, err := xmldoc.Parse([]byte(ok), xmldoc.Options{}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestParseNormalizesLineEndsEverywhere: XML 1.0 §2.11 normalizes CRLF and
// CR to LF in the whole input before parsing, processing instructions and
// comments included. encoding/xml does so for character data only, so a
// signed element holding a PI written with CRLF canonicalizes with the CR
// here and without it at every peer.
func TestParseNormalizesLineEndsEverywhere(t *testing.T) {
	cases := []struct{ name, src, canonical, serialized string }{
		{"processing instruction", "<r><?x a\r\nb\rc?></r>", "<r><?x a\nb\nc?></r>", "<r><?x a\nb\nc?></r>"},
		{"comment", "<r><!-- a\r\nb\rc --></r>", "<r></r>", "<r><!-- a\nb\nc --></r>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := mustParse(t, tc.src).Root()
			got, err := c14n.Exclusive(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.canonical {
				t.Errorf("canonical form %q, want %q (libxml2)", got, tc.canonical)
			}
			if got := string(xmldoc.Serialize(root)); got != tc.serialized {
				t.Errorf("Serialize %q, want %q", got, tc.serialized)
			}
		})
	}
}

// TestParseAcceptsLegalReferenceLookalikes: the non-character check of
// 2f5d257 must not reach into CDATA sections, where "&#xD800;" is seven
// literal characters, nor refuse U+FFFD, which is an XML character (a
// reference to it is how a peer writes a replacement character). libxml2
// accepts all of these with the values given.
func TestParseAcceptsLegalReferenceLookalikes(t *testing.T) {
	cases := []struct{ name, src, attr, text string }{
		{"surrogate reference inside CDATA", `<r><![CDATA[&#xD800;]]></r>`, "", "&#xD800;"},
		{"empty reference inside CDATA", `<r><![CDATA[a &#; b]]></r>`, "", "a &#; b"},
		{"replacement character in text", `<r>&#xFFFD;</r>`, "", "\uFFFD"},
		{"replacement character in an attribute", `<r a="&#xFFFD;"/>`, "\uFFFD", ""},
		{"replacement character in a normalized attribute", "<r a=\"&#65533;\t\"/>", "\uFFFD ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if a, _ := xmldoc.Attr(d.Root(), xmldoc.Name{Local: "a"}); a != tc.attr {
				t.Errorf("attribute %q, want %q", a, tc.attr)
			}
			if got := d.Root().Text(); got != tc.text {
				t.Errorf("text %q, want %q", got, tc.text)
			}
		})
	}
}
