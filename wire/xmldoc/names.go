package xmldoc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validQName reports whether n is prefix:local or local with both parts
// NCNames ("Namespaces in XML 1.0" §4). encoding/xml splits names at the
// first colon and accepts empty parts and leading digits; peers such as
// libxml2, .NET and Java reject those documents, and etree would write
// some of them back as a different, malformed name.
func validQName(n xml.Name) bool {
	return (n.Space == "" || validNCName(n.Space)) && validNCName(n.Local)
}

func validNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || r == 0xB7):
		default:
			return false
		}
	}
	return true
}

// checkTagSpacing verifies that attributes in a raw start tag are
// separated by white space (XML 1.0 §3.1), which encoding/xml does not
// require. Quoted values are skipped; the decoder has already checked the
// rest of the tag.
func checkTagSpacing(tag []byte) error {
	for i := 0; i < len(tag); i++ {
		q := tag[i]
		if q != '"' && q != '\'' {
			continue
		}
		end := i + 1
		for end < len(tag) && tag[end] != q {
			end++
		}
		if end+1 < len(tag) {
			switch tag[end+1] {
			case ' ', '\t', '\r', '\n', '/', '>':
			default:
				return errors.New("attributes must be separated by white space")
			}
		}
		i = end
	}
	return nil
}

// checkProcInst refuses an XML declaration anywhere but at the very start
// of the document, reserved "xml" targets in other cases, and a target not
// followed by white space (XML 1.0 §2.6, §2.8).
func (p *parser) checkProcInst(t xml.ProcInst, off int64) error {
	if strings.EqualFold(t.Target, "xml") && (t.Target != "xml" || off != 0) {
		return p.fail("XML declaration only allowed at the start of the document")
	}
	if t.Target == "xml" && !strings.HasPrefix(strings.TrimLeft(string(t.Inst), " \t\r\n"), "version") {
		return p.fail("XML declaration without a version")
	}
	if !validNCName(t.Target) {
		return p.fail("invalid processing instruction target %q", t.Target)
	}
	raw := p.doc.src[off:]
	after := 2 + len(t.Target)
	if after < len(raw) {
		r, _ := utf8.DecodeRune(raw[after:])
		if r != ' ' && r != '\t' && r != '\r' && r != '\n' && !bytes.HasPrefix(raw[after:], []byte("?>")) {
			return p.fail("processing instruction target must be followed by white space")
		}
	}
	return nil
}

// checkCharRefs verifies that every character reference in raw names a
// character XML allows (XML 1.0 §4.1, §2.2); encoding/xml turns a
// reference to a surrogate into U+FFFD instead of refusing it, so the
// document would be read differently by its signer.
func checkCharRefs(raw []byte) error {
	for {
		i := bytes.Index(raw, []byte("&#"))
		if i < 0 {
			return nil
		}
		raw = raw[i+2:]
		j := bytes.IndexByte(raw, ';')
		if j < 0 {
			return nil // the decoder reports the malformed reference
		}
		digits, base := raw[:j], 10
		if len(digits) > 0 && digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		n, err := strconv.ParseUint(string(digits), base, 32)
		if err != nil || !isXMLChar(rune(n)) {
			return fmt.Errorf("character reference &#%s; is not an XML character", raw[:j])
		}
		raw = raw[j+1:]
	}
}

func isXMLChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
