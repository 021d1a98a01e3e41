package xmldoc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Limits bounds what Parse accepts. A zero field means "use the default";
// there is no way to switch a limit off, because every document scproxy parses
// comes from a peer it does not control.
type Limits struct {
	// MaxBytes caps the size of the whole document.
	MaxBytes int
	// MaxDepth caps element nesting; the root element is at depth 1.
	MaxDepth int
	// MaxElements caps the number of elements in the document.
	MaxElements int
	// MaxAttributes caps the attributes on one element, namespace
	// declarations included.
	MaxAttributes int
	// MaxNamespaceDecls caps the namespace declarations on one element.
	MaxNamespaceDecls int
	// MaxTokenBytes caps one token: a start tag with its attributes, a run
	// of character data, a comment, a CDATA section. The default is
	// MaxBytes: a SOAP Body may hold megabytes of base64 in one text node,
	// while a reader of headers alone can be strict.
	MaxTokenBytes int
}

// DefaultLimits are generous for SOAP traffic (a WCF message rarely nests
// deeper than 20 or carries more than a handful of attributes) and small
// enough that a hostile document costs little to reject.
var DefaultLimits = Limits{
	MaxBytes:          4 << 20,
	MaxDepth:          128,
	MaxElements:       100_000,
	MaxAttributes:     64,
	MaxNamespaceDecls: 32,
}

func (l Limits) withDefaults() Limits {
	pick := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	maxBytes := pick(l.MaxBytes, DefaultLimits.MaxBytes)
	return Limits{
		MaxBytes:          maxBytes,
		MaxDepth:          pick(l.MaxDepth, DefaultLimits.MaxDepth),
		MaxElements:       pick(l.MaxElements, DefaultLimits.MaxElements),
		MaxAttributes:     pick(l.MaxAttributes, DefaultLimits.MaxAttributes),
		MaxNamespaceDecls: pick(l.MaxNamespaceDecls, DefaultLimits.MaxNamespaceDecls),
		MaxTokenBytes:     pick(l.MaxTokenBytes, maxBytes),
	}
}

// LimitError reports a document that exceeds one of the parse limits.
type LimitError struct {
	Limit string // name of the Limits field that was exceeded
	Max   int    // the configured maximum
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("xml: document exceeds %s (%d)", e.Limit, e.Max)
}

// ErrDTD is returned for any document type declaration. SOAP forbids them
// (SOAP 1.1 §3, SOAP 1.2 part 1 §5) and they are the vehicle of entity
// expansion and external entity attacks.
var ErrDTD = errors.New("xml: document type declarations are not allowed")

// ErrEncoding is returned for a document in an encoding other than UTF-8:
// SOAP stacks send UTF-8 unless told otherwise, and a transcoding reader
// would be one more parser on the attack surface.
var ErrEncoding = errors.New("xml: only UTF-8 is accepted")

// ErrProcInst is returned, under Options.NoProcInst, for a processing
// instruction anywhere in the document. SOAP forbids them (SOAP 1.1 §3,
// SOAP 1.2 part 1 §5); the XML declaration is not one.
var ErrProcInst = errors.New("xml: processing instructions are not allowed")

// SyntaxError reports malformed XML or a namespace well-formedness error.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml: malformed at byte %d: %s", e.Offset, e.Msg)
}

// Options tunes Parse beyond the limits.
type Options struct {
	Limits Limits
	// KeepSpans records the byte range of every element so that Raw can
	// return an element exactly as received.
	KeepSpans bool
	// Stop, when set, is asked after each start tag with the new element,
	// its depth (the root is 1) and the byte range of the tag in the input
	// as given (a byte order mark counts); when it returns true parsing
	// ends there, the tree holds everything read so far, and StoppedAt
	// reports the range. The rest of the input is not read.
	Stop func(el *etree.Element, depth, start, end int) bool
	// NoProcInst refuses every processing instruction with ErrProcInst,
	// as SOAP requires; the XML declaration is not one.
	NoProcInst bool
}

// Doc is a parsed document: an etree tree plus, when asked for, the byte
// range each element occupied in the input.
type Doc struct {
	*etree.Document
	src     []byte
	spans   map[*etree.Element][2]int64
	stopped [2]int64
	stop    bool
	// grafted are documents whose elements were moved into this one
	// (Graft): their bytes are theirs.
	grafted []*Doc
}

// StoppedAt reports the byte range of the start tag at which Options.Stop
// ended parsing, and false when the whole document was read. Like every
// offset Parse reports, it counts from the start of the input as given,
// byte order mark included.
func (d *Doc) StoppedAt() (start, end int, ok bool) {
	return int(d.stopped[0]), int(d.stopped[1]), d.stop
}

// Raw returns the bytes el occupied in the parsed input, exactly as received.
// It reports false when the document was parsed without KeepSpans or el does
// not belong to it.
func (d *Doc) Raw(el *etree.Element) ([]byte, bool) {
	sp, ok := d.spans[el]
	if !ok {
		for _, g := range d.grafted {
			if raw, ok := g.Raw(el); ok {
				return raw, true
			}
		}
		return nil, false
	}
	return d.src[sp[0]:sp[1]], true
}

// Graft records that elements of from, parsed with KeepSpans, were moved
// into d's tree (decrypted content put in place of its EncryptedData):
// Raw returns their bytes as from's input held them, exactly as received.
func (d *Doc) Graft(from *Doc) {
	if from != nil && from != d {
		d.grafted = append(d.grafted, from)
	}
}

// Parse parses an XML document under limits, building an etree tree.
//
// It checks what etree alone does not: every prefix bound, start and end
// tags matched, no duplicate attributes, one root element, no DTD. Character
// data inside the root is kept exactly (whitespace included) so signatures
// over pretty-printed documents still verify; comments and processing
// instructions inside the root are kept, those outside are dropped.
//
// The document must be UTF-8, optionally after a byte order mark; one in
// UTF-16 is refused with ErrEncoding.
func Parse(src []byte, opts Options) (*Doc, error) {
	lim := opts.Limits.withDefaults()
	if enc := utf16Encoding(src); enc != "" {
		return nil, fmt.Errorf("%w: the document is %s", ErrEncoding, enc)
	}
	base := 0
	if bytes.HasPrefix(src, utf8BOM) {
		base = len(utf8BOM)
	}
	src = src[base:]
	if len(src) > lim.MaxBytes {
		return nil, &LimitError{Limit: "MaxBytes", Max: lim.MaxBytes}
	}
	p := parser{
		scope: map[string]string{"xml": NSXML},
		lim:   lim,
		dec:   xml.NewDecoder(bytes.NewReader(src)),
		doc:   &Doc{Document: etree.NewDocument(), src: src},
		stop:  opts.Stop,
		base:  int64(base),
		noPI:  opts.NoProcInst,
		// SOAP messages rarely nest deeper than this; growing the stack
		// from nothing cost an allocation per level.
		stack: make([]frame, 0, 16),
	}
	if opts.KeepSpans {
		p.doc.spans = make(map[*etree.Element][2]int64)
	}
	p.dec.Strict = true
	p.dec.CharsetReader = refuseCharset
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.doc, nil
}

// refuseCharset refuses encodings other than UTF-8: SOAP stacks send UTF-8,
// and a transcoding reader would be one more parser on the attack surface.
func refuseCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("unsupported encoding %q (only UTF-8 is accepted)", label)
}

// utf8BOM may precede a UTF-8 document (XML 1.0 §4.3.3); .NET writes it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// utf16Encoding names the UTF-16 encoding src starts in, by its byte order
// mark or, without one, by a first "<" in UTF-16 (XML 1.0 appendix F), and
// returns "" for anything else.
func utf16Encoding(src []byte) string {
	if len(src) < 2 {
		return ""
	}
	switch {
	case src[0] == 0xFE && src[1] == 0xFF:
		return "UTF-16 (big-endian byte order mark)"
	case src[0] == 0xFF && src[1] == 0xFE:
		return "UTF-16 (little-endian byte order mark)"
	case src[0] == 0 && src[1] == '<':
		return "UTF-16 (big-endian, no byte order mark)"
	case src[0] == '<' && src[1] == 0:
		return "UTF-16 (little-endian, no byte order mark)"
	}
	return ""
}

// frame is an open element. undo restores the bindings its declarations
// shadowed when it closes, so that prefix lookups stay O(1) at any depth.
type frame struct {
	el    *etree.Element
	undo  []binding
	start int64
}

type binding struct {
	prefix, uri string
	bound       bool
}

type parser struct {
	scope    map[string]string // bindings in scope at the current element
	lim      Limits
	dec      *xml.Decoder
	doc      *Doc
	stack    []frame
	elements int
	sawRoot  bool
	stop     func(*etree.Element, int, int, int) bool
	noPI     bool
	// base is the length of the byte order mark cut from the input: the
	// parser works on what follows it, and adds base to the offsets it
	// reports, so that they index the input as given.
	base int64
}

// errStopped ends the token loop when Options.Stop asks for it.
var errStopped = errors.New("stopped")

func (p *parser) fail(format string, args ...any) error {
	return &SyntaxError{Offset: p.base + p.dec.InputOffset(), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) run() error {
	for {
		off := p.dec.InputOffset()
		if err := p.precheck(off); err != nil {
			return err
		}
		tok, err := p.dec.RawToken()
		if err == io.EOF {
			if len(p.stack) > 0 {
				return p.fail("unexpected end of document inside <%s>", p.stack[len(p.stack)-1].el.FullTag())
			}
			if !p.sawRoot {
				return p.fail("no root element")
			}
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return p.fail("%s", se.Msg)
			}
			return p.fail("%v", err)
		}
		if err := p.token(tok, off); err == errStopped {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (p *parser) token(tok xml.Token, off int64) error {
	switch t := tok.(type) {
	case xml.StartElement:
		return p.start(t, off)
	case xml.EndElement:
		return p.end(t)
	case xml.CharData:
		raw := p.doc.src[off:p.dec.InputOffset()]
		if len(p.stack) == 0 {
			// Only literal white space may surround the root: not a
			// reference to one, nor an empty CDATA section.
			if len(bytes.Trim(raw, " \t\r\n")) > 0 {
				return p.fail("text outside the root element")
			}
			return nil
		}
		if !bytes.HasPrefix(raw, []byte("<![CDATA[")) { // no references inside CDATA
			if err := checkCharRefs(raw); err != nil {
				return p.fail("%v", err)
			}
		}
		p.top().CreateCharData(string(t))
	case xml.Comment:
		if len(p.stack) > 0 {
			p.top().CreateComment(normalizeLineEnds(string(t)))
		}
	case xml.ProcInst:
		if err := p.checkProcInst(t, off); err != nil {
			return err
		}
		if p.noPI && t.Target != "xml" { // checkProcInst allows "xml" only as the declaration
			return fmt.Errorf("%w: <?%s?> at byte %d", ErrProcInst, t.Target, p.base+off)
		}
		if len(p.stack) > 0 {
			p.top().CreateProcInst(t.Target, normalizeLineEnds(string(t.Inst)))
		}
	case xml.Directive:
		return ErrDTD
	}
	return nil
}

func (p *parser) top() *etree.Element { return p.stack[len(p.stack)-1].el }

// precheck enforces MaxTokenBytes and MaxAttributes on the token at off
// before encoding/xml decodes it: the decoder builds a whole token (every
// attribute of a tag) before returning it, so a 3 MiB attribute or
// 100,000 attributes would cost ten to thirty bytes of memory per input
// byte if judged afterwards. A malformed token is left for the decoder
// to report.
func (p *parser) precheck(off int64) error {
	src := p.doc.src[off:]
	if max := p.lim.MaxTokenBytes; len(src) > max && tokenLen(src, max) > max {
		return &LimitError{Limit: "MaxTokenBytes", Max: max}
	}
	if len(src) < 2 || src[0] != '<' || src[1] == '/' || src[1] == '!' || src[1] == '?' {
		return nil
	}
	if _, n := scanTag(src, p.lim.MaxAttributes); n > p.lim.MaxAttributes {
		return &LimitError{Limit: "MaxAttributes", Max: p.lim.MaxAttributes}
	}
	return nil
}

// tokenLen returns the length of the token src starts with, or max+1
// when it is longer than max; it reads at most max+1 bytes.
func tokenLen(src []byte, max int) int {
	w := src[:min(len(src), max+1)]
	after := func(i, n int) int {
		if i < 0 {
			return max + 1
		}
		return i + n
	}
	switch {
	case bytes.HasPrefix(w, []byte("<!--")):
		return after(bytes.Index(w, []byte("-->")), 3)
	case bytes.HasPrefix(w, []byte("<![CDATA[")):
		return after(bytes.Index(w, []byte("]]>")), 3)
	case bytes.HasPrefix(w, []byte("<")):
		end, _ := scanTag(w, max)
		return after(end, 1)
	}
	return after(bytes.IndexByte(w, '<'), 0)
}

// scanTag finds the '>' that ends the tag src starts with, outside quoted
// values, and counts the '=' before it; it stops counting past max and
// returns end -1 when the tag does not end in src.
func scanTag(src []byte, max int) (end, attrs int) {
	var quote byte
	for i, c := range src {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			if attrs++; attrs > max {
				return -1, attrs
			}
		case c == '>':
			return i, attrs
		}
	}
	return -1, attrs
}

func (p *parser) start(t xml.StartElement, off int64) error {
	if len(p.stack) == 0 && p.sawRoot {
		return p.fail("more than one root element")
	}
	if len(p.stack)+1 > p.lim.MaxDepth {
		return &LimitError{Limit: "MaxDepth", Max: p.lim.MaxDepth}
	}
	p.elements++
	if p.elements > p.lim.MaxElements {
		return &LimitError{Limit: "MaxElements", Max: p.lim.MaxElements}
	}
	if len(t.Attr) > p.lim.MaxAttributes {
		return &LimitError{Limit: "MaxAttributes", Max: p.lim.MaxAttributes}
	}
	normalizeAttrs(p.doc.src[off:p.dec.InputOffset()], t.Attr)
	f := frame{start: off}
	decls := 0
	for _, a := range t.Attr {
		prefix, ok := declaredPrefix(a.Name)
		if !ok {
			continue
		}
		decls++
		if decls > p.lim.MaxNamespaceDecls {
			return &LimitError{Limit: "MaxNamespaceDecls", Max: p.lim.MaxNamespaceDecls}
		}
		if err := p.checkDecl(prefix, a.Value); err != nil {
			return err
		}
		old, bound := p.scope[prefix]
		f.undo = append(f.undo, binding{prefix: prefix, uri: old, bound: bound})
		p.scope[prefix] = a.Value
	}
	p.stack = append(p.stack, f)
	if err := p.checkNames(t); err != nil {
		return err
	}
	tag := p.doc.src[off:p.dec.InputOffset()]
	if err := checkTagSpacing(tag); err != nil {
		return p.fail("%v", err)
	}
	if err := checkCharRefs(tag); err != nil {
		return p.fail("%v", err)
	}

	var el *etree.Element
	if len(p.stack) == 1 {
		el = p.doc.CreateElement(t.Name.Local)
		p.sawRoot = true
	} else {
		el = p.stack[len(p.stack)-2].el.CreateElement(t.Name.Local)
	}
	// The prefix is set apart: joining it to the name for CreateElement to
	// split again cost an allocation per element.
	el.Space = t.Name.Space
	el.Attr = make([]etree.Attr, 0, len(t.Attr))
	for _, a := range t.Attr {
		el.CreateAttr(qname(a.Name), a.Value)
	}
	p.stack[len(p.stack)-1].el = el
	if p.stop != nil && p.stop(el, len(p.stack), int(p.base+off), int(p.base+p.dec.InputOffset())) {
		p.doc.stop = true
		p.doc.stopped = [2]int64{p.base + off, p.base + p.dec.InputOffset()}
		return errStopped
	}
	return nil
}

func (p *parser) end(t xml.EndElement) error {
	if len(p.stack) == 0 {
		return p.fail("unexpected end tag </%s>", qname(t.Name))
	}
	f := p.stack[len(p.stack)-1]
	if f.el.Space != t.Name.Space || f.el.Tag != t.Name.Local {
		return p.fail("end tag </%s> does not match <%s>", qname(t.Name), f.el.FullTag())
	}
	p.stack = p.stack[:len(p.stack)-1]
	for i := len(f.undo) - 1; i >= 0; i-- {
		if b := f.undo[i]; b.bound {
			p.scope[b.prefix] = b.uri
		} else {
			delete(p.scope, b.prefix)
		}
	}
	if p.doc.spans != nil {
		p.doc.spans[f.el] = [2]int64{f.start, p.dec.InputOffset()}
	}
	return nil
}

// declaredPrefix reports whether n is a namespace declaration and, if so,
// the prefix it declares ("" for the default namespace).
func declaredPrefix(n xml.Name) (string, bool) {
	switch {
	case n.Space == "" && n.Local == "xmlns":
		return "", true
	case n.Space == "xmlns":
		return n.Local, true
	}
	return "", false
}

func (p *parser) checkDecl(prefix, uri string) error {
	switch {
	case prefix == "xmlns":
		return p.fail("the xmlns prefix cannot be declared")
	case prefix == "xml" && uri != NSXML:
		return p.fail("the xml prefix cannot be rebound")
	case prefix != "xml" && uri == NSXML:
		return p.fail("the XML namespace cannot be bound to %q", prefix)
	case uri == NSXMLNS:
		return p.fail("the xmlns namespace cannot be bound")
	case prefix != "" && uri == "":
		return p.fail("prefix %q cannot be undeclared in XML 1.0", prefix)
	}
	return nil
}

// checkNames verifies that every prefix on the element and its attributes is
// bound, and that no two attributes share an expanded name.
func (p *parser) checkNames(t xml.StartElement) error {
	if !validQName(t.Name) {
		return p.fail("invalid element name %q", qname(t.Name))
	}
	for _, a := range t.Attr {
		if !validQName(a.Name) {
			return p.fail("invalid attribute name %q on <%s>", qname(a.Name), qname(t.Name))
		}
	}
	if _, ok := p.lookup(t.Name.Space); !ok {
		return p.fail("undeclared namespace prefix %q on <%s>", t.Name.Space, qname(t.Name))
	}
	// Most elements have an attribute or two: a short list compared
	// pairwise costs less than a set, which larger ones use.
	type expanded struct{ uri, local string }
	var few [8]expanded
	keys := few[:0]
	var seen map[expanded]struct{}
	if len(t.Attr) > len(few) {
		seen = make(map[expanded]struct{}, len(t.Attr))
	}
	for _, a := range t.Attr {
		key := expanded{local: a.Name.Local}
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			key.uri = NSXMLNS
		} else if a.Name.Space != "" {
			uri, ok := p.lookup(a.Name.Space)
			if !ok {
				return p.fail("undeclared namespace prefix %q on attribute %s", a.Name.Space, qname(a.Name))
			}
			key.uri = uri
		}
		var dup bool
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			dup = slices.Contains(keys, key)
			keys = append(keys, key)
		}
		if dup {
			return p.fail("duplicate attribute %s on <%s>", qname(a.Name), qname(t.Name))
		}
	}
	return nil
}

// lookup resolves a prefix against the bindings in scope, the current
// element's declarations included.
func (p *parser) lookup(prefix string) (string, bool) {
	uri, ok := p.scope[prefix]
	if prefix == "" {
		return uri, true
	}
	return uri, ok && uri != ""
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// normalizeLineEnds applies XML 1.0 §2.11 to comments and processing
// instructions, which encoding/xml passes through unnormalized (it does
// normalize character data).
func normalizeLineEnds(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
