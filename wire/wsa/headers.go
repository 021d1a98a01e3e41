package wsa

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Headers are the message addressing properties scproxy writes and reads.
// An empty field is a header that is absent.
type Headers struct {
	Action    string // wsa:Action; required in every addressed message
	MessageID string // wsa:MessageID
	To        string // wsa:To
	ReplyTo   string // wsa:ReplyTo/wsa:Address
	RelatesTo string // wsa:RelatesTo, reply relationship only
}

// Errors of AddTo and Read, wrapped with detail; test them with errors.Is.
var (
	// ErrNotHeader: the element given is not a SOAP 1.1 or 1.2 Header.
	ErrNotHeader = errors.New("wsa: not a SOAP Header element")
	// ErrNoVersion: AddTo was asked to write version None.
	ErrNoVersion = errors.New("wsa: no WS-Addressing version given")
	// ErrNoAction: an addressed message without an Action, which both
	// versions require.
	ErrNoAction = errors.New("wsa: Action is missing")
	// ErrPresent: AddTo would write a header the Header already holds.
	ErrPresent = errors.New("wsa: header already present")
	// ErrMixed: headers of both WS-Addressing versions in one message.
	ErrMixed = errors.New("wsa: headers of both WS-Addressing versions")
	// ErrValue: a header that is empty or has element content where a URI
	// is expected.
	ErrValue = errors.New("wsa: malformed header value")
	// ErrRelationship: a RelatesTo that is not a reply relationship.
	ErrRelationship = errors.New("wsa: RelatesTo relationship is not reply")
)

// NewRequest returns the headers of a request that expects its reply on the
// HTTP response, as WCF writes them: Action, a fresh MessageID from r, the
// anonymous ReplyTo, and To.
func NewRequest(v Version, action, to string, r io.Reader) (Headers, error) {
	id, err := NewMessageID(r)
	if err != nil {
		return Headers{}, err
	}
	return Headers{Action: action, MessageID: id, To: to, ReplyTo: v.Anonymous()}, nil
}

// Elements are the header blocks AddTo created, nil for fields that were
// empty. The caller may put a wsu:Id on them to sign them.
type Elements struct {
	Action, MessageID, RelatesTo, ReplyTo, To *etree.Element
}

// All returns the created elements in document order.
func (e Elements) All() []*etree.Element {
	var out []*etree.Element
	for _, el := range []*etree.Element{e.Action, e.MessageID, e.RelatesTo, e.ReplyTo, e.To} {
		if el != nil {
			out = append(out, el)
		}
	}
	return out
}

// AddTo appends h to header, a SOAP Header element, in version v, in WCF's
// order (Action, MessageID, RelatesTo, ReplyTo, To). Action and To carry
// mustUnderstand="1" in the envelope's SOAP namespace, as WCF sends them,
// so a receiver that does not process addressing rejects the message rather
// than misroute it.
//
// Prefixes already bound in scope are reused (the WCF shape declares
// WS-Addressing on the Envelope); otherwise each created element declares
// what it uses, so that it stands alone when canonicalized for a signature.
// AddTo refuses to write a header the Header already has, or to mix
// versions, since the receiver's exactly-one lookups would then fail.
func (h Headers) AddTo(header *etree.Element, v Version) (Elements, error) {
	sv, err := soapVersion(header)
	if err != nil {
		return Elements{}, err
	}
	if v.Namespace() == "" {
		return Elements{}, ErrNoVersion
	}
	if h.Action == "" {
		return Elements{}, ErrNoAction
	}
	if err := h.checkFree(header, v); err != nil {
		return Elements{}, err
	}
	w := newWriter(header, sv, v)
	var out Elements
	out.Action = w.add("Action", h.Action, true)
	out.MessageID = w.addIf("MessageID", h.MessageID)
	out.RelatesTo = w.addIf("RelatesTo", h.RelatesTo)
	if h.ReplyTo != "" {
		out.ReplyTo = w.add("ReplyTo", "", false)
		out.ReplyTo.CreateElement(w.wsaPrefix + ":Address").SetText(h.ReplyTo)
	}
	if h.To != "" {
		out.To = w.add("To", h.To, true)
	}
	return out, nil
}

// soapVersion returns the SOAP version of a Header element.
func soapVersion(header *etree.Element) (soap.Version, error) {
	if header == nil {
		return 0, fmt.Errorf("%w: nil", ErrNotHeader)
	}
	sv, ok := soap.VersionOf(header.NamespaceURI())
	if !ok || header.Tag != "Header" {
		return 0, fmt.Errorf("%w: %s", ErrNotHeader, xmldoc.NameOf(header))
	}
	return sv, nil
}

// checkFree refuses headers AddTo would duplicate and headers of the other
// version.
func (h Headers) checkFree(header *etree.Element, v Version) error {
	writes := map[string]bool{
		"Action": true, "MessageID": h.MessageID != "", "RelatesTo": h.RelatesTo != "",
		"ReplyTo": h.ReplyTo != "", "To": h.To != "",
	}
	for _, c := range header.ChildElements() {
		cv, ok := VersionOf(c.NamespaceURI())
		switch {
		case !ok:
		case cv != v:
			return fmt.Errorf("%w: %s already in a %s message", ErrMixed, xmldoc.NameOf(c), v)
		case writes[c.Tag]:
			return fmt.Errorf("%w: %s", ErrPresent, xmldoc.NameOf(c))
		}
	}
	return nil
}

// writer creates header blocks with the prefixes chosen for one AddTo call.
type writer struct {
	header      *etree.Element
	sv          soap.Version
	v           Version
	soapPrefix  string
	declareSOAP bool
	wsaPrefix   string
	declareWSA  bool
	// wsaDecl and mustUnderstand are attribute names used on every
	// header, joined once.
	wsaDecl, mustUnderstand string
}

func newWriter(header *etree.Element, sv soap.Version, v Version) *writer {
	scope := xmldoc.InScope(header)
	w := &writer{header: header, sv: sv, v: v}
	w.soapPrefix, w.declareSOAP = pickPrefix(scope, sv.Namespace(), header.Space, "s", "")
	w.wsaPrefix, w.declareWSA = pickPrefix(scope, v.Namespace(), "a", "a", w.soapPrefix)
	w.wsaDecl, w.mustUnderstand = "xmlns:"+w.wsaPrefix, w.soapPrefix+":"+sv.MustUnderstand().Local
	return w
}

// pickPrefix returns a prefix bound to ns in scope, preferring prefer, or
// else a prefix to declare for it: fresh (if possible), never avoid, which
// the same element uses for another namespace.
func pickPrefix(scope map[string]string, ns, prefer, fresh, avoid string) (string, bool) {
	if prefer != "" && scope[prefer] == ns {
		return prefer, false
	}
	for _, p := range slices.Sorted(maps.Keys(scope)) {
		if p != "" && p != avoid && scope[p] == ns {
			return p, false
		}
	}
	for i := 0; ; i++ {
		p := fresh
		if i > 0 {
			p = fresh + strconv.Itoa(i)
		}
		if p != avoid {
			return p, true
		}
	}
}

func (w *writer) addIf(local, text string) *etree.Element {
	if text == "" {
		return nil
	}
	return w.add(local, text, false)
}

func (w *writer) add(local, text string, mustUnderstand bool) *etree.Element {
	el := w.header.CreateElement(local)
	el.Space = w.wsaPrefix
	if w.declareWSA {
		el.CreateAttr(w.wsaDecl, w.v.Namespace())
	}
	if mustUnderstand {
		if w.declareSOAP {
			el.CreateAttr("xmlns:"+w.soapPrefix, w.sv.Namespace())
		}
		el.CreateAttr(w.mustUnderstand, soap.MustUnderstandValue)
	}
	if text != "" {
		el.SetText(text)
	}
	return el
}

// Read returns the addressing headers of header, a SOAP Header element (nil
// when the envelope has none), and the version they are in: None when there
// are none. Every header is looked up as exactly one in the namespace
// detected, so a duplicated To or Action (a way to make the signed copy and
// the routed copy differ) is an error, as is a mix of versions. An
// addressed message must carry an Action.
func Read(header *etree.Element) (Headers, Version, error) {
	if header == nil {
		return Headers{}, None, nil
	}
	if _, err := soapVersion(header); err != nil {
		return Headers{}, None, err
	}
	v, err := detect(header)
	if err != nil || v == None {
		return Headers{}, None, err
	}
	r := reader{header: header, v: v}
	h := Headers{
		Action:    r.text("Action"),
		MessageID: r.text("MessageID"),
		To:        r.text("To"),
		ReplyTo:   r.replyTo(),
		RelatesTo: r.relatesTo(),
	}
	if r.err != nil {
		return Headers{}, None, r.err
	}
	if h.Action == "" {
		return Headers{}, None, fmt.Errorf("%w in a %s message", ErrNoAction, v)
	}
	return h, v, nil
}

// detect returns the one WS-Addressing version whose namespace the Header's
// children use.
func detect(header *etree.Element) (Version, error) {
	found := None
	for c := range header.ChildElementsSeq() {
		cv, ok := VersionOf(c.NamespaceURI())
		switch {
		case !ok:
		case found == None:
			found = cv
		case cv != found:
			return None, fmt.Errorf("%w: %s and %s", ErrMixed, found.Namespace(), cv.Namespace())
		}
	}
	return found, nil
}

// reader looks headers up and keeps the first error.
type reader struct {
	header *etree.Element
	v      Version
	err    error
}

func (r *reader) optional(local string) *etree.Element {
	if r.err != nil {
		return nil
	}
	el, err := xmldoc.Optional(r.header, r.v.Name(local))
	if err != nil {
		r.err = fmt.Errorf("wsa: %w", err)
	}
	return el
}

func (r *reader) text(local string) string {
	return r.value(r.optional(local))
}

// value returns el's text, which must be a non-empty URI without element
// content; "" for a nil el.
func (r *reader) value(el *etree.Element) string {
	if el == nil || r.err != nil {
		return ""
	}
	t := xmldoc.Text(el)
	switch {
	case hasChildElement(el):
		r.err = fmt.Errorf("%w: %s has element content", ErrValue, xmldoc.NameOf(el))
	case t == "":
		r.err = fmt.Errorf("%w: %s is empty", ErrValue, xmldoc.NameOf(el))
	}
	return t
}

// hasChildElement reports whether el has an element child, without
// collecting them.
func hasChildElement(el *etree.Element) bool {
	for range el.ChildElementsSeq() {
		return true
	}
	return false
}

func (r *reader) replyTo() string {
	el := r.optional("ReplyTo")
	if el == nil {
		return ""
	}
	addr, err := xmldoc.One(el, r.v.Name("Address"))
	if err != nil {
		r.err = fmt.Errorf("wsa: %w", err)
		return ""
	}
	return r.value(addr)
}

func (r *reader) relatesTo() string {
	el := r.optional("RelatesTo")
	if el == nil {
		return ""
	}
	val, present := xmldoc.Attr(el, xmldoc.Name{Local: "RelationshipType"})
	if !r.v.replyRelationship(strings.Trim(val, " \t\r\n"), present, qnameResolver(el)) {
		r.err = fmt.Errorf("%w: %q", ErrRelationship, val)
		return ""
	}
	return r.value(el)
}

// qnameResolver resolves QName values against the declarations in scope at
// el, never by assuming a prefix.
func qnameResolver(el *etree.Element) func(string) (xmldoc.Name, bool) {
	return func(s string) (xmldoc.Name, bool) {
		scope := xmldoc.InScope(el)
		prefix, local, found := strings.Cut(s, ":")
		if !found {
			return xmldoc.Name{Space: scope[""], Local: s}, s != ""
		}
		uri, ok := scope[prefix]
		return xmldoc.Name{Space: uri, Local: local}, ok && local != "" && !strings.Contains(local, ":")
	}
}
