package splice

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Options tune Read.
type Options struct {
	Limits xmldoc.Limits
	// Payload reads on to the start tag of the Body's first element, so
	// that PayloadName can tell a Fault from an answer.
	Payload bool
}

// Message is a SOAP envelope read up to its Body. Env.Root and Env.Header
// are complete trees the caller may change; Env.Body holds the Body's
// start tag only (and, with Options.Payload, its first child's start tag).
type Message struct {
	Env *soap.Envelope

	src []byte
	// content is the Body's content in src; empty for a self-closed Body.
	content [2]int
	payload *etree.Element
	// complete: the whole document was read (a Body without element
	// children), so the tree alone can be written back.
	complete bool
}

// Errors of Read.
var (
	// ErrTail: the document does not end with the Body and Envelope end
	// tags (trailing content or a malformed end).
	ErrTail = errors.New("splice: the envelope does not end with </Body></Envelope>")
)

// Read parses src up to the start of its Body (or its first payload
// element) and locates the Body's content by the end tags.
//
// SOAP forbids processing instructions (SOAP 1.1 §3, SOAP 1.2 part 1 §5):
// one in the part parsed, or in the Body's content that is not, is
// refused with xmldoc.ErrProcInst. src may start with a UTF-8 byte order
// mark, which is not written back; a UTF-16 document is refused with
// xmldoc.ErrEncoding.
func Read(src []byte, o Options) (*Message, error) {
	var bodyTag [2]int
	var sawBody bool
	var payload *etree.Element
	stop := func(el *etree.Element, depth, start, end int) bool {
		switch {
		case depth == 2 && el.Tag == "Body":
			if v, ok := soap.VersionOf(el.NamespaceURI()); ok && v.Namespace() == el.Parent().NamespaceURI() {
				bodyTag, sawBody = [2]int{start, end}, true
				return !o.Payload
			}
		case depth == 3 && sawBody: // the Header, if any, has been read: this is in the Body
			payload = el
			return true
		}
		return false
	}
	env, err := soap.ParseWith(src, xmldoc.Options{Limits: o.Limits, Stop: stop, NoProcInst: true})
	if err != nil {
		return nil, err
	}
	m := &Message{Env: env, src: src, payload: payload}
	if _, _, stopped := env.Doc.StoppedAt(); !stopped {
		m.complete = true
		return m, nil
	}
	if !sawBody {
		return nil, errors.New("splice: no Body") // unreachable: stop fires only past the Body
	}
	m.content[0] = bodyTag[1]
	if selfClosed(src[bodyTag[0]:bodyTag[1]]) {
		m.content[1] = bodyTag[1]
		if err := expectTail(src, bodyTag[1], env.Root); err != nil {
			return nil, err
		}
		return m, nil
	}
	end, err := bodyEnd(src, bodyTag[1], env.Root, env.Body)
	if err != nil {
		return nil, err
	}
	m.content[1] = end
	if i := procInst(src[m.content[0]:end]); i >= 0 {
		return nil, fmt.Errorf("splice: %w: in the Body at byte %d", xmldoc.ErrProcInst, m.content[0]+i)
	}
	return m, nil
}

// procInst returns the offset of the first processing instruction in b,
// the Body's unparsed content, or -1: a "<?" outside comments and CDATA
// sections (anywhere else it cannot stand in well-formed XML). A Body
// without "<?" is the common case and costs one fast scan.
func procInst(b []byte) int {
	if !hasPIStart(b) {
		return -1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return -1
		}
		i += j
		skip := func(open, close string) bool {
			if !bytes.HasPrefix(b[i:], []byte(open)) {
				return false
			}
			k := bytes.Index(b[i+len(open):], []byte(close))
			if k < 0 {
				i = len(b) // unterminated: not Read's to judge
			} else {
				i += len(open) + k + len(close)
			}
			return true
		}
		switch {
		case bytes.HasPrefix(b[i:], []byte("<?")):
			return i
		case skip("<!--", "-->"), skip("<![CDATA[", "]]>"):
		default:
			i++
		}
	}
}

// PayloadName returns the name of the Body's first element, when Read was
// asked for it and there is one.
func (m *Message) PayloadName() (xmldoc.Name, bool) {
	if m.payload == nil {
		return xmldoc.Name{}, false
	}
	return xmldoc.NameOf(m.payload), true
}

// Complete reports whether the whole document was read: the Body holds no
// element, so Env describes the message entirely.
func (m *Message) Complete() bool { return m.complete }

// BodySize is the length of the Body's content as received.
func (m *Message) BodySize() int { return m.content[1] - m.content[0] }

// Bytes writes the envelope: the current Envelope start tag and Header,
// then the Body with its content exactly as received. tokens are elements
// placed from received tokens (see xmldoc.SerializeWith); nil when none.
func (m *Message) Bytes(tokens map[*etree.Element]xmldoc.Fragment) []byte {
	return m.BytesWith(tokens, nil)
}

// headSlack is room for what writing the head may add to it (a SOAP
// version's namespace declaration, a Header's tags), so that the output
// is allocated once.
const headSlack = 256

// BytesWith is Bytes with block, the bytes of a header block that declares
// every prefix it uses, written as the Header's last child (a Header is
// added when there is none).
//
// The Body's content and the block are placed by their elements in the
// tree while it is written (xmldoc.AppendWith), never by looking for a
// placeholder in the output, which the application's own comments could
// imitate.
func (m *Message) BytesWith(tokens map[*etree.Element]xmldoc.Fragment, block []byte) []byte {
	body := m.Env.Body
	saved := body.Child
	content := m.src[m.content[0]:m.content[1]]
	if m.complete {
		// Only white space, comments and the like: write them as parsed.
		var b bytes.Buffer
		for _, t := range saved {
			t.WriteTo(&b, &etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true})
		}
		content = b.Bytes()
	}
	inserts := [2]xmldoc.Insert{{El: body, Bytes: content}}
	n := 1
	addedHeader := false
	if block != nil {
		addedHeader = m.Env.Header == nil
		inserts[1] = xmldoc.Insert{El: m.Env.EnsureHeader(), Bytes: block}
		n = 2
	}
	body.Child = nil
	out := make([]byte, 0, len(m.src)+len(block)+headSlack)
	out = xmldoc.AppendWith(out, m.Env.Root, tokens, inserts[:n]...)
	body.Child = saved
	if addedHeader {
		m.Env.Root.RemoveChild(m.Env.Header)
		m.Env.Header = nil
	}
	return out
}

func selfClosed(tag []byte) bool { return bytes.HasSuffix(tag, []byte("/>")) }

// hasPIStart reports whether b holds "<?". It looks for the '?', rare in
// XML, rather than for the pair: a search for a two-byte string tests
// every '<' of the markup, which made it cost as much as the rest of the
// splice on a large Body.
func hasPIStart(b []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], '?')
		if j < 0 {
			return false
		}
		if i += j; i > 0 && b[i-1] == '<' {
			return true
		}
	}
}

// bodyEnd returns the offset of the Body's end tag, reading backwards:
// optional white space, </envelope>, optional white space, </body>.
func bodyEnd(src []byte, from int, env, body *etree.Element) (int, error) {
	i, err := endTag(src, len(src), from, env)
	if err != nil {
		return 0, err
	}
	return endTag(src, i, from, body)
}

// expectTail checks that only white space and </envelope> follow from.
func expectTail(src []byte, from int, env *etree.Element) error {
	i, err := endTag(src, len(src), from, env)
	if err != nil {
		return err
	}
	if len(bytes.Trim(src[from:i], " \t\r\n")) != 0 {
		return fmt.Errorf("%w: content after a self-closed Body", ErrTail)
	}
	return nil
}

// endTag finds the end tag of el, </prefix:name> (with optional white
// space before its '>'), that ends src[:limit] apart from trailing white
// space, not before from, and returns its offset. The name is compared in
// its parts: joining them would cost an allocation per message.
func endTag(src []byte, limit, from int, el *etree.Element) (int, error) {
	i := limit
	for i > from && isSpace(src[i-1]) {
		i--
	}
	if i == from || src[i-1] != '>' {
		return 0, fmt.Errorf("%w: expected </%s> at byte %d", ErrTail, el.FullTag(), i)
	}
	j := i - 1
	for j > from && isSpace(src[j-1]) {
		j--
	}
	n := len(el.Tag)
	if el.Space != "" {
		n += len(el.Space) + 1
	}
	start := j - n - 2
	if start < from || !isEndTagOf(src[start:j], el) {
		return 0, fmt.Errorf("%w: expected </%s> at byte %d", ErrTail, el.FullTag(), i)
	}
	return start, nil
}

// isEndTagOf reports whether b is "</" followed by el's qualified name.
func isEndTagOf(b []byte, el *etree.Element) bool {
	if b[0] != '<' || b[1] != '/' {
		return false
	}
	name := b[2:]
	if el.Space != "" {
		p := len(el.Space)
		if string(name[:p]) != el.Space || name[p] != ':' {
			return false
		}
		name = name[p+1:]
	}
	return string(name) == el.Tag
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Convert rewrites the envelope for SOAP version to: the Envelope, Header
// and Body take a fresh prefix bound to the new namespace (the old binding
// stays, for the Body's content), and the mustUnderstand, actor/role and
// relay attributes of header blocks are translated.
func (m *Message) Convert(to soap.Version) error {
	from := m.Env.Version
	if from == to {
		return nil
	}
	if to.Namespace() == "" {
		return fmt.Errorf("splice: unknown SOAP version %v", to)
	}
	p := freePrefix(m.Env.Root, m.Env.Header)
	if m.Env.Header != nil {
		for block := range m.Env.Header.ChildElementsSeq() {
			if err := convertBlock(block, from, to, p); err != nil {
				return err
			}
		}
	}
	m.Env.Root.CreateAttr("xmlns:"+p, to.Namespace())
	for _, el := range []*etree.Element{m.Env.Root, m.Env.Header, m.Env.Body} {
		if el != nil {
			el.Space = p
		}
	}
	m.Env.Version = to
	return nil
}

// Actor and role URIs that have a counterpart in the other version.
const (
	actorNext11 = "http://schemas.xmlsoap.org/soap/actor/next"
	roleNext12  = "http://www.w3.org/2003/05/soap-envelope/role/next"
	roleNone12  = "http://www.w3.org/2003/05/soap-envelope/role/none"
	roleUltim12 = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"
)

func convertBlock(block *etree.Element, from, to soap.Version, p string) error {
	kept := block.Attr[:0:0]
	for _, a := range block.Attr {
		if a.NamespaceURI() != from.Namespace() || a.Space == "" {
			kept = append(kept, a)
			continue
		}
		v := a.Value
		local := a.Key
		switch a.Key {
		case "mustUnderstand":
			mu, err := from.ParseMustUnderstand(v)
			if err != nil {
				return fmt.Errorf("splice: header %s: %w", xmldoc.NameOf(block), err)
			}
			if !mu {
				continue
			}
			v = map[soap.Version]string{soap.V11: "1", soap.V12: "true"}[to]
		case "actor", "role":
			switch v {
			case actorNext11:
				v = roleNext12
			case roleNext12:
				v = actorNext11
			case roleUltim12:
				continue
			case roleNone12:
				return fmt.Errorf("splice: header %s targets role none, which SOAP 1.1 cannot express", xmldoc.NameOf(block))
			}
			local = map[soap.Version]string{soap.V11: "actor", soap.V12: "role"}[to]
		case "relay":
			if to == soap.V11 {
				continue
			}
		}
		kept = append(kept, etree.Attr{Space: p, Key: local, Value: v})
	}
	block.Attr = kept
	return nil
}

// freePrefix returns a prefix declared nowhere in the envelope's head, "s"
// when possible.
func freePrefix(root, header *etree.Element) string {
	used := map[string]bool{}
	note := func(el *etree.Element) {
		for _, a := range el.Attr {
			if p, ok := xmldoc.DeclaredPrefix(a); ok {
				used[p] = true
			}
		}
		used[el.Space] = true
	}
	note(root)
	if header != nil {
		xmldoc.Walk(header, note)
	}
	p := "s"
	for i := 1; used[p]; i++ {
		p = "s" + strconv.Itoa(i)
	}
	return p
}
