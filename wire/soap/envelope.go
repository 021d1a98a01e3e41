package soap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// VersionError reports a root element in a namespace that is not a SOAP
// envelope namespace. SOAP 1.2 part 1 §5.4.7 and SOAP 1.1 §4.4.1 call this a
// VersionMismatch; the namespace found is named so that a wrong or
// misspelled URI is obvious in logs.
type VersionError struct {
	Namespace string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("soap: envelope namespace %q is not SOAP 1.1 or SOAP 1.2", e.Namespace)
}

// Structural errors. They are wrapped with detail; callers test them with
// errors.Is.
var (
	// ErrNotEnvelope reports a root element not named Envelope.
	ErrNotEnvelope = errors.New("soap: root element is not Envelope")
	// ErrHeaderAfterBody reports a Header that follows the Body; both
	// versions require it first.
	ErrHeaderAfterBody = errors.New("soap: Header after Body")
	// ErrUnexpectedElement reports an Envelope child other than one Header
	// and one Body.
	ErrUnexpectedElement = errors.New("soap: unexpected element in Envelope")
	// ErrText reports character data where SOAP allows only elements
	// (directly inside Envelope, Header or Body).
	ErrText = errors.New("soap: text content not allowed")
	// ErrProcInst reports a processing instruction, which both versions
	// forbid (SOAP 1.1 §3, SOAP 1.2 part 1 §5).
	ErrProcInst = errors.New("soap: processing instructions not allowed")
	// ErrNoPayload reports a Body without an element child.
	ErrNoPayload = errors.New("soap: Body is empty")
	// ErrManyPayloads reports a Body with more than one element child.
	ErrManyPayloads = errors.New("soap: Body has more than one element")
)

// Envelope is a parsed or built SOAP envelope. Header is nil when the
// envelope has none; EnsureHeader adds one.
type Envelope struct {
	Doc     *xmldoc.Doc
	Version Version
	Root    *etree.Element
	Header  *etree.Element
	Body    *etree.Element
}

// Parse parses a SOAP envelope under lim.
func Parse(src []byte, lim xmldoc.Limits) (*Envelope, error) {
	return ParseWith(src, xmldoc.Options{Limits: lim})
}

// ParseWith parses a SOAP envelope with full parser options, for callers
// that need elements' raw bytes (KeepSpans).
//
// The shape is checked strictly: root Envelope in a SOAP namespace, an
// optional Header, exactly one Body, nothing else. SOAP 1.1 §4.1 would allow
// further namespace-qualified elements after the Body; WS-I Basic Profile 1.1
// R1011 forbids them, WCF never sends them, and content that no layer
// processes is a place to hide a copy of a signed element, so they are
// refused in both versions.
func ParseWith(src []byte, opts xmldoc.Options) (*Envelope, error) {
	doc, err := xmldoc.Parse(src, opts)
	if err != nil {
		return nil, fmt.Errorf("soap: %w", err)
	}
	root := doc.Root()
	if root.Tag != "Envelope" {
		return nil, fmt.Errorf("%w: found %s", ErrNotEnvelope, xmldoc.NameOf(root))
	}
	v, ok := VersionOf(root.NamespaceURI())
	if !ok {
		return nil, &VersionError{Namespace: root.NamespaceURI()}
	}
	env := &Envelope{Doc: doc, Version: v, Root: root}
	if err := env.bind(); err != nil {
		return nil, err
	}
	if err := noProcInst(root); err != nil {
		return nil, err
	}
	return env, nil
}

// bind locates Header and Body and checks the Envelope's children.
func (e *Envelope) bind() error {
	var err error
	if e.Header, err = xmldoc.Optional(e.Root, e.Version.Name("Header")); err != nil {
		return fmt.Errorf("soap: %w", err)
	}
	if e.Body, err = xmldoc.One(e.Root, e.Version.Name("Body")); err != nil {
		return fmt.Errorf("soap: %w", err)
	}
	for _, el := range []*etree.Element{e.Root, e.Header, e.Body} {
		if err := elementOnly(el); err != nil {
			return err
		}
	}
	afterBody := false
	for c := range e.Root.ChildElementsSeq() {
		switch {
		case c == e.Header && afterBody:
			return ErrHeaderAfterBody
		case c == e.Header:
		case c == e.Body:
			afterBody = true
		default:
			return fmt.Errorf("%w: %s", ErrUnexpectedElement, xmldoc.NameOf(c))
		}
	}
	return nil
}

// elementOnly refuses non-whitespace character data directly inside el.
func elementOnly(el *etree.Element) error {
	if el == nil {
		return nil
	}
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok && strings.Trim(cd.Data, " \t\r\n") != "" {
			return fmt.Errorf("%w: in %s", ErrText, el.Tag)
		}
	}
	return nil
}

func noProcInst(root *etree.Element) error {
	var found error
	xmldoc.Walk(root, func(el *etree.Element) {
		for _, t := range el.Child {
			if pi, ok := t.(*etree.ProcInst); ok && found == nil {
				found = fmt.Errorf("%w: <?%s?>", ErrProcInst, pi.Target)
			}
		}
	})
	return found
}

// envPrefix is the prefix scproxy gives the envelope namespace, as WCF does.
const envPrefix = "s"

// NewEnvelope returns an envelope of version v with an empty Header and
// Body.
func NewEnvelope(v Version) *Envelope { return newEnvelope(v, envPrefix) }

// EnsureHeader returns the Header, first adding an empty one as the
// Envelope's first child when there is none. The new element uses the
// prefix the Envelope itself is written with, so it lands in the envelope's
// namespace whatever the document's declarations.
func (e *Envelope) EnsureHeader() *etree.Element {
	if e.Header == nil {
		h := etree.NewElement("Header")
		h.Space = e.Root.Space
		e.Root.InsertChildAt(0, h)
		e.Header = h
	}
	return e.Header
}

// Payload returns the single element child of the Body.
func (e *Envelope) Payload() (*etree.Element, error) {
	kids := e.Body.ChildElements()
	switch len(kids) {
	case 0:
		return nil, ErrNoPayload
	case 1:
		return kids[0], nil
	}
	return nil, fmt.Errorf("%w: %d elements", ErrManyPayloads, len(kids))
}

// Bytes serialises the envelope with canonical escaping.
func (e *Envelope) Bytes() []byte {
	return xmldoc.Serialize(e.Root)
}
