package xmldoc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestParseRejectsMalformedQNames: names that are well-formed XML 1.0 but
// not namespace-well-formed ("Namespaces in XML 1.0" §3: a QName is
// NCName or NCName:NCName) must be rejected. encoding/xml leaves such a name
// whole in Name.Local, colon included; etree then splits it at the colon, so
// without a check the parser and the tree disagree: `xmlns:="urn:x"` is no
// declaration to the parser but a default namespace declaration to InScope
// and c14n, while NameOf still sees the outer default namespace.
func TestParseRejectsMalformedQNames(t *testing.T) {
	cases := []struct{ name, src string }{
		{"declaration with empty prefix", `<r xmlns="urn:d"><c xmlns:="urn:x"><e/></c></r>`},
		{"attribute with empty local name", `<r xmlns:a="urn:a" a:="1"/>`},
		{"attribute with empty prefix", `<r :a="1"/>`},
		{"attribute with empty prefix duplicating another", `<r a="1" :a="2"/>`},
		{"element with empty prefix", `<:r/>`},
		{"element with empty local name", `<r xmlns:a="urn:a"><a:/></r>`},
		{"element with two colons", `<a:b:c xmlns:a="urn:a"/>`},
		{"attribute with two colons", `<r xmlns:a="urn:a" a:b:c="1"/>`},
		{"attribute named colon (written back as =\"\")", `<r><c :=""></c></r>`},
		{"attribute with empty prefix and digit local (written back as 0=\"\")", `<A A="" :0=""/>`},
		{"attribute local name starting with a digit", `<r xmlns:a="urn:a" a:0=""/>`},
		{"element local name starting with a digit", `<a:0 xmlns:a="urn:a"/>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %s", err, serializeOrNil(d))
			}
		})
	}
}

// TestParseRejectsMisplacedXMLDeclaration: the XML declaration may only
// open the document (XML 1.0 §2.8) and "xml" is no PI target (§2.6). Kept
// inside the root, it would be written back out by Serialize, making
// scproxy's own output ill-formed.
func TestParseRejectsMisplacedXMLDeclaration(t *testing.T) {
	cases := []struct{ name, src string }{
		{"declaration inside root", `<r><?xml version="1.0"?></r>`},
		{"declaration after root", `<r/><?xml version="1.0"?>`},
		{"whitespace before declaration", ` <?xml version="1.0"?><r/>`},
		{"upper-case xml target inside root", `<r><?XML x?></r>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %s", err, serializeOrNil(d))
			}
		})
	}
}

// TestParseRejectsMissingWhitespace: XML 1.0 §3.1 and §2.6 require white
// space between attributes and after a PI target; encoding/xml does not
// check. libxml2, .NET and Java reject these documents, and scproxy should
// not accept what its peers would refuse.
func TestParseRejectsMissingWhitespace(t *testing.T) {
	cases := []struct{ name, src string }{
		{"between attributes", `<r a="1"b="2"/>`},
		{"between a declaration and an attribute", `<r xmlns:p="urn:p"p:a="1"/>`},
		{"after a PI target", `<r><?A!x?></r>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (err %v); root serializes as %s", err, serializeOrNil(d))
			}
		})
	}
}

// TestParseAcceptsByteOrderMark: XML 1.0 §4.3.3 and Appendix F allow a UTF-8
// byte order mark before the document; libxml2, .NET and Java accept it,
// and some SOAP stacks send one.
func TestParseAcceptsByteOrderMark(t *testing.T) {
	for _, src := range []string{"\xEF\xBB\xBF<r a=\"1\"/>", "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><r a=\"1\"/>"} {
		d, err := xmldoc.Parse([]byte(src), xmldoc.Options{KeepSpans: true})
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if raw, ok := d.Raw(d.Root()); !ok || string(raw) != `<r a="1"/>` {
			t.Errorf("%q: Raw(root) = %q, %v", src, raw, ok)
		}
	}
}

// TestParseAttributeNormalization: XML 1.0 §3.3.3. A literal tab, LF, CR or
// CRLF in an attribute value reads as one space each; the same characters
// written as character references are kept; entity references resolve.
func TestParseAttributeNormalization(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"literal tab", "<r a=\"x\ty\"/>", "x y"},
		{"literal LF", "<r a=\"x\ny\"/>", "x y"},
		{"literal CRLF is one space", "<r a=\"x\r\ny\"/>", "x y"},
		{"literal CR", "<r a=\"x\ry\"/>", "x y"},
		{"two literal LFs", "<r a=\"\n\n\"/>", "  "},
		{"references kept", `<r a="&#x9;&#xA;&#xD;&#13;&#10;"/>`, "\t\n\r\r\n"},
		{"references mixed with literals", "<r a=\"&#9;\t&#xA;\n&#xD;\r\n\"/>", "\t \n \r "},
		{"CR literal then LF reference", "<r a=\"\r&#xA;\"/>", " \n"},
		{"entities with literal whitespace", "<r a=\"&amp;\t&lt;\n&gt;&quot;&apos;\"/>", "& < >\"'"},
		{"single-quoted with double quote inside", "<r a='say \"hi\"\tnow'/>", `say "hi" now`},
		{"equals sign inside a value", "<r a=\"k=v\tx\" b=\"1\"/>", "k=v x"},
		{"greater-than inside a value", "<r a=\"x>y\tz\"/>", "x>y z"},
		{"CDATA end inside a value", "<r a=\"]]>\tx\"/>", "]]> x"},
		{"non-ASCII", "<r a=\"ü\t€\"/>", "ü €"},
		{"whitespace between attributes only", "<r\n\ta=\"1\"\r\n\tb=\"x\ty\"/>", "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := xmldoc.Attr(d.Root(), xmldoc.Name{Local: "a"})
			if !ok || got != tc.want {
				t.Errorf("a = %q (found %v), want %q", got, ok, tc.want)
			}
		})
	}
}

// TestParseTextLineEnds: XML 1.0 §2.11 line-end handling in character data,
// and character references surviving it.
func TestParseTextLineEnds(t *testing.T) {
	d, err := xmldoc.Parse([]byte("<r>a\r\nb\rc\nd&#xD;&#xA;e<![CDATA[\r\n]]></r>"), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Root().Text(), "a\nb\nc\nd\r\ne\n"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
}

func serializeOrNil(d *xmldoc.Doc) string {
	if d == nil || d.Root() == nil {
		return "<nil>"
	}
	return strings.ReplaceAll(string(xmldoc.Serialize(d.Root())), "\n", `\n`)
}
