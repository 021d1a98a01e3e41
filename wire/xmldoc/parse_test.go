package xmldoc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// billionLaughs is the classic entity-expansion document: ten levels of ten
// references each, a gigabyte once expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, " <!ENTITY lol%d \"%s\">\n", i, strings.Repeat(fmt.Sprintf("&lol%s;", suffix(i-1)), 10))
	}
	b.WriteString("]>\n<lolz>&lol9;</lolz>")
	return b.String()
}

func suffix(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprint(i)
}

// nested returns n nested elements.
func nested(n int) string {
	return strings.Repeat("<a>", n) + strings.Repeat("</a>", n)
}

// withAttrs returns a root element with n unqualified attributes.
func withAttrs(n int) string {
	var b strings.Builder
	b.WriteString("<r")
	for i := range n {
		fmt.Fprintf(&b, ` a%d=""`, i)
	}
	b.WriteString("/>")
	return b.String()
}

// withDecls returns a root element declaring n prefixes.
func withDecls(n int) string {
	var b strings.Builder
	b.WriteString("<r")
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, i, i)
	}
	b.WriteString("/>")
	return b.String()
}

// siblings returns a root with n-1 children: n elements in all.
func siblings(n int) string {
	return "<r>" + strings.Repeat("<c/>", n-1) + "</r>"
}

func TestParseRejectsDTDs(t *testing.T) {
	cases := []struct{ name, src string }{
		{"doctype", `<!DOCTYPE r><r/>`},
		{"doctype with internal subset", `<!DOCTYPE r [<!ELEMENT r ANY>]><r/>`},
		{"billion laughs", billionLaughs()},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>`},
		{"external parameter entity", `<!DOCTYPE r [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><r/>`},
		{"public external DTD", `<!DOCTYPE r PUBLIC "-//X//Y//EN" "http://example.invalid/r.dtd"><r/>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			if !errors.Is(err, xmldoc.ErrDTD) {
				t.Fatalf("err = %v (doc %v), want ErrDTD", err, d)
			}
		})
	}
}

func TestParseLimitErrors(t *testing.T) {
	cases := []struct {
		name  string
		src   string
		lim   xmldoc.Limits
		limit string
		max   int
	}{
		{"over deep", nested(4), xmldoc.Limits{MaxDepth: 3}, "MaxDepth", 3},
		{"100000 deep under defaults", nested(100_000), xmldoc.Limits{}, "MaxDepth", xmldoc.DefaultLimits.MaxDepth},
		{"too many attributes", withAttrs(4), xmldoc.Limits{MaxAttributes: 3}, "MaxAttributes", 3},
		{"100000 attributes under defaults", withAttrs(100_000), xmldoc.Limits{}, "MaxAttributes", xmldoc.DefaultLimits.MaxAttributes},
		{"declarations count as attributes", `<r xmlns:a="urn:a" xmlns:b="urn:b" x="1" y="2"/>`, xmldoc.Limits{MaxAttributes: 3}, "MaxAttributes", 3},
		{"namespace declaration flood", withDecls(33), xmldoc.Limits{}, "MaxNamespaceDecls", xmldoc.DefaultLimits.MaxNamespaceDecls},
		{"namespace declarations over a small limit", `<r xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b"/>`, xmldoc.Limits{MaxNamespaceDecls: 2}, "MaxNamespaceDecls", 2},
		{"too many elements", siblings(11), xmldoc.Limits{MaxElements: 10}, "MaxElements", 10},
		{"too many elements counted across depth", nested(6), xmldoc.Limits{MaxElements: 5}, "MaxElements", 5},
		{"oversized input", `<r>` + strings.Repeat("x", 100) + `</r>`, xmldoc.Limits{MaxBytes: 100}, "MaxBytes", 100},
		{"oversized under defaults", `<r>` + strings.Repeat("x", 4<<20) + `</r>`, xmldoc.Limits{}, "MaxBytes", xmldoc.DefaultLimits.MaxBytes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{Limits: tc.lim})
			var le *xmldoc.LimitError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *LimitError", err)
			}
			if le.Limit != tc.limit || le.Max != tc.max {
				t.Errorf("LimitError{%s, %d}, want {%s, %d}", le.Limit, le.Max, tc.limit, tc.max)
			}
			if !strings.Contains(err.Error(), tc.limit) {
				t.Errorf("message %q does not name %s", err, tc.limit)
			}
		})
	}
}

// TestParseLimitsExact: a limit of N accepts a document with exactly N and
// rejects one with N+1.
func TestParseLimitsExact(t *testing.T) {
	cases := []struct {
		limit string
		n     int
		lim   xmldoc.Limits
		doc   func(int) string // a document with exactly k of what the limit counts
	}{
		{"MaxDepth", 7, xmldoc.Limits{MaxDepth: 7}, nested},
		{"MaxElements", 7, xmldoc.Limits{MaxElements: 7}, siblings},
		{"MaxAttributes", 7, xmldoc.Limits{MaxAttributes: 7}, withAttrs},
		{"MaxNamespaceDecls", 7, xmldoc.Limits{MaxNamespaceDecls: 7}, withDecls},
		{"MaxBytes", 100, xmldoc.Limits{MaxBytes: 100}, func(k int) string { return "<r>" + strings.Repeat("x", k-7) + "</r>" }},
	}
	for _, tc := range cases {
		t.Run(tc.limit, func(t *testing.T) {
			if _, err := xmldoc.Parse([]byte(tc.doc(tc.n)), xmldoc.Options{Limits: tc.lim}); err != nil {
				t.Errorf("at the limit: %v", err)
			}
			_, err := xmldoc.Parse([]byte(tc.doc(tc.n+1)), xmldoc.Options{Limits: tc.lim})
			var le *xmldoc.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit || le.Max != tc.n {
				t.Errorf("one over the limit: err = %v, want LimitError{%s, %d}", err, tc.limit, tc.n)
			}
		})
	}
}

// TestParseZeroLimitsMeanDefaults: a zero field cannot switch a limit off.
func TestParseZeroLimitsMeanDefaults(t *testing.T) {
	max := xmldoc.DefaultLimits.MaxDepth
	if _, err := xmldoc.Parse([]byte(nested(max)), xmldoc.Options{}); err != nil {
		t.Errorf("default depth %d: %v", max, err)
	}
	_, err := xmldoc.Parse([]byte(nested(max+1)), xmldoc.Options{Limits: xmldoc.Limits{MaxDepth: 0, MaxBytes: -1}})
	var le *xmldoc.LimitError
	if !errors.As(err, &le) || le.Limit != "MaxDepth" {
		t.Errorf("zero MaxDepth: err = %v, want the default MaxDepth", err)
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	cases := []struct{ name, src, msg string }{
		{"unknown entity", `<r>&foo;</r>`, "entity"},
		{"unbound element prefix", `<p:r/>`, `undeclared namespace prefix "p"`},
		{"unbound prefix on a child", `<r xmlns:q="urn:q"><p:c/></r>`, `undeclared namespace prefix "p"`},
		{"prefix bound on a sibling only", `<r><a xmlns:p="urn:p"/><p:b/></r>`, `undeclared namespace prefix "p"`},
		{"unbound attribute prefix", `<r p:a="1"/>`, `undeclared namespace prefix "p" on attribute`},
		{"duplicate attribute", `<r a="1" a="2"/>`, "duplicate attribute"},
		{"duplicate expanded name via two prefixes", `<r xmlns:p="urn:x" xmlns:q="urn:x" p:a="1" q:a="2"/>`, "duplicate attribute"},
		{"duplicate expanded name via inherited prefix", `<r xmlns:p="urn:x"><c xmlns:q="urn:x" q:a="1" p:a="2"/></r>`, "duplicate attribute"},
		{"duplicate namespace declaration", `<r xmlns:p="urn:1" xmlns:p="urn:2"/>`, "duplicate attribute"},
		{"mismatched end tag", `<a><b></a></b>`, "does not match"},
		{"mismatched end tag prefix", `<p:a xmlns:p="urn:p" xmlns:q="urn:p"></q:a>`, "does not match"},
		{"unclosed root", `<a><b/>`, "unexpected end"},
		{"stray end tag", `<a/></a>`, "unexpected end tag"},
		{"two roots", `<a/><b/>`, "more than one root"},
		{"text after root", `<a/>x`, "text outside the root"},
		{"text before root", `x<a/>`, "text outside the root"},
		{"CDATA outside root", `<a/><![CDATA[x]]>`, "text outside the root"},
		{"no root", `  `, "no root element"},
		{"empty input", ``, "no root element"},
		{"only a declaration", `<?xml version="1.0"?>`, "no root element"},
		{"non-UTF-8 encoding declaration", `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`, "only UTF-8"},
		{"UTF-16 encoding declaration", `<?xml version="1.0" encoding="UTF-16"?><r/>`, "only UTF-8"},
		{"invalid UTF-8 bytes", "<r>\xff\xfe</r>", "UTF-8"},
		{"undeclared prefix", `<r xmlns:p=""/>`, "cannot be undeclared"},
		{"rebinding xml", `<r xmlns:xml="urn:not-xml"/>`, "xml prefix cannot be rebound"},
		{"binding the XML namespace to another prefix", `<r xmlns:x="http://www.w3.org/XML/1998/namespace"/>`, "XML namespace cannot be bound"},
		{"binding the XML namespace as default", `<r xmlns="http://www.w3.org/XML/1998/namespace"/>`, "XML namespace cannot be bound"},
		{"declaring xmlns", `<r xmlns:xmlns="http://www.w3.org/2000/xmlns/"/>`, "xmlns prefix cannot be declared"},
		{"binding the xmlns namespace", `<r xmlns:x="http://www.w3.org/2000/xmlns/"/>`, "xmlns namespace cannot be bound"},
		{"binding the xmlns namespace as default", `<r xmlns="http://www.w3.org/2000/xmlns/"/>`, "xmlns namespace cannot be bound"},
		{"attribute without value", `<r a/>`, ""},
		{"unquoted attribute", `<r a=1/>`, ""},
		{"lt in attribute value", `<r a="<"/>`, ""},
		{"bare ampersand", `<r>a & b</r>`, ""},
		{"invalid character reference", `<r>&#x0;</r>`, ""},
		{"CDATA end in text", `<r>]]></r>`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.src), xmldoc.Options{})
			var se *xmldoc.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (doc %v), want *SyntaxError", err, d)
			}
			if !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("message %q, want it to mention %q", se.Msg, tc.msg)
			}
			if se.Offset < 0 || se.Offset > int64(len(tc.src)) {
				t.Errorf("offset %d outside the %d-byte input", se.Offset, len(tc.src))
			}
		})
	}
}
