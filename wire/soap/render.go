package soap

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Envelope renders the fault as a complete envelope of version v (Body
// holding only the Fault, Header empty, ready for WS-Addressing headers).
// SOAP 1.2 gets Code Sender or Receiver (or another standard code) with the
// subcode chain; SOAP 1.1 gets the first specific code as faultcode, as WCF
// writes it, else Client or Server. Reason is marked xml:lang="en". Every
// prefix used inside a code's text is declared in the output, and Detail
// keeps the namespace bindings its content had where it was received.
func (f *Fault) Envelope(v Version) (*Envelope, error) {
	if v != V11 && v != V12 {
		return nil, fmt.Errorf("soap: cannot render a fault in %s", v)
	}
	p := envelopePrefix(f.Detail)
	env := newEnvelope(v, p)
	fe := env.Body.CreateElement(p + ":Fault")
	write := f.write12
	if v == V11 {
		write = f.write11
	}
	if err := write(fe, p); err != nil {
		return nil, err
	}
	if f.Detail != nil {
		if err := writeDetail(fe, f.Detail, v, p); err != nil {
			return nil, err
		}
	}
	return env, nil
}

func (f *Fault) write12(fe *etree.Element, p string) error {
	parent := fe.CreateElement(p + ":Code")
	if err := setQName(parent.CreateElement(p+":Value"), V12.Code(f.Class()), p, NS12); err != nil {
		return err
	}
	for _, sc := range f.chain() {
		parent = parent.CreateElement(p + ":Subcode")
		if err := setQName(parent.CreateElement(p+":Value"), sc, p, NS12); err != nil {
			return err
		}
	}
	text := fe.CreateElement(p + ":Reason").CreateElement(p + ":Text")
	text.CreateAttr("xml:lang", "en")
	text.SetText(xmlText(f.Reason))
	if f.Node != "" {
		fe.CreateElement(p + ":Node").SetText(xmlText(f.Node))
	}
	if f.Role != "" {
		fe.CreateElement(p + ":Role").SetText(xmlText(f.Role))
	}
	return nil
}

func (f *Fault) write11(fe *etree.Element, p string) error {
	if err := setQName(fe.CreateElement("faultcode"), f.code11(), p, NS11); err != nil {
		return err
	}
	str := fe.CreateElement("faultstring")
	str.CreateAttr("xml:lang", "en")
	str.SetText(xmlText(f.Reason))
	if f.Role != "" {
		fe.CreateElement("faultactor").SetText(xmlText(f.Role))
	}
	return nil
}

// maxPushdown bounds the bytes of default-namespace declarations copied
// onto SOAP 1.1 detail entries, so a hostile detail (many children, long
// namespace URI) cannot make the translation explode.
const maxPushdown = 1 << 20

// writeDetail copies d under fe as the version's detail element. The
// bindings in scope at d are declared on the new element, so content (and
// QNames inside it) reads the same as where it came from; the envelope
// prefix was chosen not to collide with them. A SOAP 1.1 detail element is
// unqualified, so it cannot carry a default namespace: that one is declared
// on each child element instead.
func writeDetail(fe, d *etree.Element, v Version, p string) error {
	tag := "detail"
	if v == V12 {
		tag = p + ":Detail"
	}
	w := fe.CreateElement(tag)
	scope := contentBindings(d)
	def, hasDef := scope[""]
	for _, pre := range slices.Sorted(maps.Keys(scope)) {
		switch {
		case pre != "":
			w.CreateAttr("xmlns:"+pre, scope[pre])
		case v == V12:
			w.CreateAttr("xmlns", def)
		}
	}
	for _, a := range d.Attr {
		if !isDecl(a) {
			w.CreateAttr(a.FullKey(), xmlText(a.Value))
		}
	}
	pushDefault := hasDef && v == V11
	if pushDefault && len(def)*len(d.ChildElements()) > maxPushdown {
		return fmt.Errorf("soap: fault detail too large to translate to %s", v)
	}
	for _, t := range d.Child {
		c := cloneToken(t)
		if el, ok := c.(*etree.Element); ok && pushDefault && !declaresDefault(el) {
			el.CreateAttr("xmlns", def)
		}
		if c != nil {
			w.AddChild(c)
		}
	}
	return nil
}

// envelopePrefix returns "s", or "s1", "s2"... when the detail content
// already uses "s": the detail's bindings are redeclared around it and must
// not change what the envelope's own elements mean.
func envelopePrefix(detail *etree.Element) string {
	if detail == nil {
		return envPrefix
	}
	scope := contentBindings(detail)
	p := envPrefix
	for i := 1; ; i++ {
		if _, used := scope[p]; !used {
			return p
		}
		p = envPrefix + strconv.Itoa(i)
	}
}

// detach returns a parentless deep copy of el that declares the bindings
// in scope at el that it needs, so that it means the same once cut from its
// document.
func detach(el *etree.Element) *etree.Element {
	if el == nil {
		return nil
	}
	c := clone(el)
	own := map[string]bool{}
	for _, a := range c.Attr {
		if p, ok := xmldoc.DeclaredPrefix(a); ok {
			own[p] = true
		}
	}
	scope := contentBindings(el)
	if uri, ok := xmldoc.InScope(el)[el.Space]; ok {
		scope[el.Space] = uri
	}
	for _, p := range slices.Sorted(maps.Keys(scope)) {
		switch {
		case own[p]:
		case p == "":
			c.CreateAttr("xmlns", scope[p])
		default:
			c.CreateAttr("xmlns:"+p, scope[p])
		}
	}
	return c
}

// contentBindings returns the bindings in scope at d that d's attributes
// and content use: prefixes of element and attribute names, the default
// namespace, and whatever looks like the prefix of a QName in text or
// attribute values (fault details carry QNames, xsi:type for one). The
// prefix of d's own name is left out unless the content uses it, so that a
// Fault's detail does not drag the old envelope's prefix along.
func contentBindings(d *etree.Element) map[string]string {
	used := map[string]bool{"": true}
	scanText := func(s string) {
		forQNamePrefixes(s, func(p string) { used[p] = true })
	}
	scanAttrs := func(el *etree.Element) {
		for _, a := range el.Attr {
			if !isDecl(a) {
				used[a.Space] = true
				scanText(a.Value)
			}
		}
	}
	scanAttrs(d)
	for _, t := range d.Child {
		switch t := t.(type) {
		case *etree.CharData:
			scanText(t.Data)
		case *etree.Element:
			xmldoc.Walk(t, func(el *etree.Element) {
				used[el.Space] = true
				scanAttrs(el)
				for _, c := range el.Child {
					if cd, ok := c.(*etree.CharData); ok {
						scanText(cd.Data)
					}
				}
			})
		}
	}
	out := map[string]string{}
	for p, uri := range xmldoc.InScope(d) {
		if used[p] {
			out[p] = uri
		}
	}
	return out
}

// forQNamePrefixes calls fn with every run of name characters that ends
// right before a colon in s, in linear time.
func forQNamePrefixes(s string, fn func(string)) {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			if i > start {
				fn(s[start:i])
			}
			start = i + 1
		case c < 0x80 && !isASCIINameChar(c):
			start = i + 1
		}
	}
}

func isASCIINameChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// clone deep-copies el. etree's Copy keeps each attribute pointing at the
// original element, which would resolve attribute prefixes in the old tree.
func clone(el *etree.Element) *etree.Element {
	c := etree.NewElement(el.Tag)
	c.Space = el.Space
	for _, a := range el.Attr {
		c.CreateAttr(a.FullKey(), xmlText(a.Value))
	}
	for _, t := range el.Child {
		if ct := cloneToken(t); ct != nil {
			c.AddChild(ct)
		}
	}
	return c
}

func cloneToken(t etree.Token) etree.Token {
	switch t := t.(type) {
	case *etree.Element:
		return clone(t)
	case *etree.CharData:
		return etree.NewText(xmlText(t.Data))
	}
	return nil // comments carry nothing a fault reader needs
}

func isDecl(a etree.Attr) bool {
	_, ok := xmldoc.DeclaredPrefix(a)
	return ok
}

func declaresDefault(el *etree.Element) bool {
	for _, a := range el.Attr {
		if p, ok := xmldoc.DeclaredPrefix(a); ok && p == "" {
			return true
		}
	}
	return false
}

// xmlText replaces what XML 1.0 cannot carry (invalid UTF-8, control
// characters other than tab, CR and LF, U+FFFE and U+FFFF) with U+FFFD, so
// that any string a caller puts in a fault serialises to a parseable
// document.
func xmlText(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if !isXMLChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isXMLChar(r) {
			return r
		}
		return '\uFFFD'
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// newEnvelope is NewEnvelope with a chosen envelope prefix.
func newEnvelope(v Version, p string) *Envelope {
	doc := &xmldoc.Doc{Document: etree.NewDocument()}
	root := doc.CreateElement(p + ":Envelope")
	root.CreateAttr("xmlns:"+p, v.Namespace())
	return &Envelope{
		Doc:     doc,
		Version: v,
		Root:    root,
		Header:  root.CreateElement(p + ":Header"),
		Body:    root.CreateElement(p + ":Body"),
	}
}
