package xmldoc

import (
	"bytes"

	"github.com/beevik/etree"
)

// Write writes el and its subtree to w as etree's WriteTo does with
// canonical escaping (CanonicalText, CanonicalAttrVal, and
// CanonicalEndTags when endTags is set), byte for byte, without its
// per-character escaping where there is nothing to escape: a name is
// written without being joined first, and text or an attribute value made
// only of printable ASCII without a character to escape is copied whole.
// Anything else is left to etree.
func Write(w *bytes.Buffer, el *etree.Element, endTags bool) {
	s := &writeSettings
	if endTags {
		s = &canonicalEndTags
	}
	write(w, el, s)
}

// canonicalEndTags are writeSettings with end tags for empty elements,
// as canonical XML writes them.
var canonicalEndTags = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true, CanonicalEndTags: true}

func write(w *bytes.Buffer, e *etree.Element, s *etree.WriteSettings) {
	w.WriteByte('<')
	writeName(w, e.Space, e.Tag)
	for i := range e.Attr {
		a := &e.Attr[i]
		w.WriteByte(' ')
		if !plain(a.Value, false) {
			a.WriteTo(w, s)
			continue
		}
		writeName(w, a.Space, a.Key)
		w.WriteString(`="`)
		w.WriteString(a.Value)
		w.WriteByte('"')
	}
	if len(e.Child) == 0 && !s.CanonicalEndTags {
		w.WriteString("/>")
		return
	}
	w.WriteByte('>')
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			write(w, t, s)
		case *etree.CharData:
			if t.IsCData() || !plain(t.Data, true) {
				t.WriteTo(w, s)
			} else {
				w.WriteString(t.Data)
			}
		default:
			t.WriteTo(w, s)
		}
	}
	w.WriteString("</")
	writeName(w, e.Space, e.Tag)
	w.WriteByte('>')
}

func writeName(w *bytes.Buffer, space, local string) {
	if space != "" {
		w.WriteString(space)
		w.WriteByte(':')
	}
	w.WriteString(local)
}

// plain reports whether s is written unchanged under canonical escaping:
// printable ASCII other than '&', '<' and '>' (in text) or '"' (in an
// attribute value); tab and line feed too in text.
func plain(s string, text bool) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&' || c == '<' || c == '>' || c == '"':
			if c == '"' && text {
				continue
			}
			return false
		case c >= 0x20 && c < 0x7F:
		case text && (c == '\t' || c == '\n'):
		default:
			return false
		}
	}
	return true
}
