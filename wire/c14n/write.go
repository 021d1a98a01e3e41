package c14n

import (
	"bytes"

	"github.com/beevik/etree"
)

// write serializes the transformed tree rooted at e as etree's WriteTo
// does under canonicalWrite, byte for byte, without its per-character
// escaping where there is nothing to escape: a name is written without
// being joined first, and text or an attribute value made only of
// printable ASCII without the characters canonical XML escapes is
// copied whole. Anything else is left to etree.
func write(w *bytes.Buffer, e *etree.Element) {
	w.WriteByte('<')
	writeName(w, e.Space, e.Tag)
	for i := range e.Attr {
		a := &e.Attr[i]
		w.WriteByte(' ')
		if !plain(a.Value, false) {
			a.WriteTo(w, &canonicalWrite)
			continue
		}
		writeName(w, a.Space, a.Key)
		w.WriteString(`="`)
		w.WriteString(a.Value)
		w.WriteByte('"')
	}
	w.WriteByte('>')
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			write(w, t)
		case *etree.CharData:
			if t.IsCData() || !plain(t.Data, true) {
				t.WriteTo(w, &canonicalWrite)
			} else {
				w.WriteString(t.Data)
			}
		default:
			t.WriteTo(w, &canonicalWrite)
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
