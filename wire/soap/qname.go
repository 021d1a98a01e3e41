package soap

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// QNameError reports a fault code that is not a usable QName: malformed, or
// with a prefix that no declaration in scope binds. Prefixes are never
// guessed (a peer may bind "s" or "a" to anything).
type QNameError struct {
	Element string // local name of the element holding the value
	Value   string
	Unbound bool // the prefix is not declared in scope
}

func (e *QNameError) Error() string {
	if e.Unbound {
		return fmt.Sprintf("soap: %s value %q uses an undeclared prefix", e.Element, e.Value)
	}
	return fmt.Sprintf("soap: %s value %q is not a QName", e.Element, e.Value)
}

// resolveQName reads el's content as an xs:QName, resolved against the
// namespace declarations in scope at el.
func resolveQName(el *etree.Element) (xmldoc.Name, error) {
	if len(el.ChildElements()) > 0 {
		return xmldoc.Name{}, &QNameError{Element: el.Tag, Value: "<element content>"}
	}
	s := xmldoc.Text(el)
	bad := &QNameError{Element: el.Tag, Value: clip(s)}
	prefix, local, found := strings.Cut(s, ":")
	if !found {
		prefix, local = "", s
	}
	if !isNCName(local) || (found && !isNCName(prefix)) {
		return xmldoc.Name{}, bad
	}
	switch prefix {
	case "xml":
		return xmldoc.Name{Space: xmldoc.NSXML, Local: local}, nil
	case "xmlns":
		return xmldoc.Name{}, bad
	}
	uri, ok := xmldoc.InScope(el)[prefix]
	if !ok && prefix != "" {
		bad.Unbound = true
		return xmldoc.Name{}, bad
	}
	return xmldoc.Name{Space: uri, Local: local}, nil
}

// setQName writes n as el's content, declaring a prefix for it on el when
// its namespace is not the envelope's (as WCF does, with prefix "a").
// envPrefix is the prefix bound to the envelope namespace envNS; the output
// never declares a default namespace, so a name without namespace is
// written unprefixed.
func setQName(el *etree.Element, n xmldoc.Name, envPrefix, envNS string) error {
	if !isNCName(n.Local) {
		return &QNameError{Element: el.Tag, Value: clip(n.Local)}
	}
	switch n.Space {
	case "":
		el.SetText(n.Local)
	case envNS:
		el.SetText(envPrefix + ":" + n.Local)
	case xmldoc.NSXML:
		el.SetText("xml:" + n.Local)
	case xmldoc.NSXMLNS:
		return &QNameError{Element: el.Tag, Value: clip(n.String())}
	default:
		el.CreateAttr("xmlns:"+codePrefix, n.Space)
		el.SetText(codePrefix + ":" + n.Local)
	}
	return nil
}

// codePrefix is the prefix declared for a fault code's namespace; it must
// differ from every envelope prefix scproxy picks.
const codePrefix = "a"

// isNCName approximates the XML Namespaces NCName production (letters,
// digits, '.', '-', '_', combining marks; no colon; not starting with a
// digit, '.' or '-'). Parsing and writing use the same test, so whatever is
// read can be written back.
func isNCName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '.' || r == '-' || r == 0xB7 ||
			unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		default:
			return false
		}
	}
	return true
}

// clip shortens peer-supplied text quoted in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}
