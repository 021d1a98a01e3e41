package xmldoc_test

import (
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestTextReadsAcrossComments guards against the comment-truncation class of
// signature bypass (the 2018 SAML advisories: `user@example.com<!---->.evil.com`):
// exclusive c14n without comments signs the text on both sides of a comment
// as one string, so Text must return that same string, not the part before
// the comment. etree 1.8.1 joins the character data around comments; an
// upgrade that stops doing so must fail here.
func TestTextReadsAcrossComments(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"comment splits the value", `<I>user@example.com<!---->.evil.com</I>`, "user@example.com.evil.com"},
		{"comment first", `<I><!-- x -->urn:uuid:1</I>`, "urn:uuid:1"},
		{"several comments", `<I>a<!--1-->b<!--2-->c<!--3--></I>`, "abc"},
		{"comment between CDATA and text", `<I><![CDATA[a]]><!---->b</I>`, "ab"},
		{"whitespace around comments trimmed at the ends only", "<I>\n a<!----> b \n</I>", "a b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := mustParse(t, tc.src).Root()
			if got := xmldoc.Text(root); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
			signed, err := c14n.Exclusive(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if inner := strings.TrimSuffix(strings.TrimPrefix(string(signed), "<I>"), "</I>"); strings.TrimSpace(inner) != tc.want {
				t.Errorf("canonical text %q differs from what Text reads (%q)", inner, tc.want)
			}
		})
	}
}

// TestTextStopsAtSignedMarkup: a child element or processing instruction
// ends the text Text returns. Both are part of the canonical form, so, unlike
// a comment, neither can be inserted into a signed value unnoticed.
func TestTextStopsAtSignedMarkup(t *testing.T) {
	cases := []struct{ name, src, want, canonical string }{
		{"child element", `<I>ab<x/>cd</I>`, "ab", `<I>ab<x></x>cd</I>`},
		{"processing instruction", `<I>ab<?pi?>cd</I>`, "ab", `<I>ab<?pi?>cd</I>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := mustParse(t, tc.src).Root()
			if got := xmldoc.Text(root); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
			if got, _ := c14n.Exclusive(root, nil); string(got) != tc.canonical {
				t.Errorf("canonical form %s, want %s: the markup must be signed", got, tc.canonical)
			}
		})
	}
}

// TestParseKeepsMarkupInsideRootOnly: comments and processing instructions
// inside the root are kept (a signature over a subtree covers PIs, and
// Serialize must give back what came in); those outside the root, the XML
// declaration included, are dropped.
func TestParseKeepsMarkupInsideRootOnly(t *testing.T) {
	src := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- before --><?before x?>\n" +
		"<r><!-- in --><?in data?><a/></r>\n<!-- after --><?after?>\n"
	d := mustParse(t, src)
	if got, want := string(xmldoc.Serialize(d.Root())), `<r><!-- in --><?in data?><a/></r>`; got != want {
		t.Errorf("root serializes as %s, want %s", got, want)
	}
	if n := len(d.Child); n != 1 {
		t.Errorf("document has %d top-level tokens, want only the root", n)
	}
}
