package xmldoc

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
)

// normalizeAttrs applies XML 1.0 §3.3.3 attribute-value normalization,
// which encoding/xml skips: a literal tab, carriage return or line feed in
// an attribute value is read as a space, while the same characters written
// as character references are kept. Without it a value signed by a peer
// whose parser normalizes (libxml2, .NET, Java) canonicalizes differently
// here. tag is the raw start tag; attrs are its decoded attributes, in
// document order, updated in place. Tags without such whitespace inside a
// value are left alone after one scan.
func normalizeAttrs(tag []byte, attrs []xml.Attr) {
	if bytes.IndexAny(tag, "\t\r\n") < 0 {
		return
	}
	raw := rawAttrValues(tag)
	if len(raw) != len(attrs) {
		return // cannot happen for a tag the decoder accepted
	}
	for i, v := range raw {
		if bytes.IndexAny(v, "\t\r\n") < 0 {
			continue
		}
		v = bytes.ReplaceAll(v, []byte("\r\n"), []byte(" "))
		v = bytes.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
		attrs[i].Value = unescape(v)
	}
}

// rawAttrValues returns the undecoded values of the attributes of a start
// tag the decoder has already accepted as well-formed.
func rawAttrValues(tag []byte) [][]byte {
	var out [][]byte
	i := bytes.IndexAny(tag, " \t\r\n")
	for i >= 0 && i < len(tag) {
		eq := bytes.IndexByte(tag[i:], '=')
		if eq < 0 {
			break
		}
		i += eq + 1
		for i < len(tag) && tag[i] != '"' && tag[i] != '\'' {
			i++
		}
		if i >= len(tag) {
			break
		}
		q := tag[i]
		end := bytes.IndexByte(tag[i+1:], q)
		if end < 0 {
			break
		}
		out = append(out, tag[i+1:i+1+end])
		i += end + 2
	}
	return out
}

// unescape resolves the references left in a normalized value: the five
// predefined entities and character references, the only ones a document
// without a DTD can contain (the decoder has already accepted them).
func unescape(v []byte) string {
	var b strings.Builder
	for len(v) > 0 {
		i := bytes.IndexByte(v, '&')
		if i < 0 {
			b.Write(v)
			break
		}
		b.Write(v[:i])
		v = v[i:]
		j := bytes.IndexByte(v, ';')
		if j < 0 {
			b.Write(v)
			break
		}
		b.WriteString(resolveRef(string(v[1:j])))
		v = v[j+1:]
	}
	return b.String()
}

var entities = map[string]string{"lt": "<", "gt": ">", "amp": "&", "quot": `"`, "apos": "'"}

func resolveRef(name string) string {
	if e, ok := entities[name]; ok {
		return e
	}
	var n uint64
	var err error
	switch {
	case strings.HasPrefix(name, "#x"):
		n, err = strconv.ParseUint(name[2:], 16, 32)
	case strings.HasPrefix(name, "#"):
		n, err = strconv.ParseUint(name[1:], 10, 32)
	default:
		err = strconv.ErrSyntax
	}
	if err != nil {
		return "&" + name + ";"
	}
	return string(rune(n))
}
