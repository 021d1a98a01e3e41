package soap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ErrBadFault marks every error about a malformed Fault element; the
// underlying cause is wrapped alongside it.
var ErrBadFault = errors.New("soap: malformed fault")

// Fault is a SOAP fault, received or to be sent. It is an error, found with
// errors.As, so that a caller can branch on a code with Has.
//
// Code is the top-level code exactly as received: in SOAP 1.2 one of the
// five codes of part 1 §5.4.6; in SOAP 1.1 the faultcode, which may be a
// standard code, a dotted refinement ("Client.Authentication") or, as WCF
// sends security faults, the specific code itself (wsc:BadContextToken).
type Fault struct {
	Version  Version        // version the fault was received in; V12 for NewFault
	Code     xmldoc.Name    // top-level code (1.2 Code/Value, 1.1 faultcode)
	Subcodes []xmldoc.Name  // 1.2 Subcode/Value chain, outermost first
	Reason   string         // 1.2 Reason/Text (English, else the first), 1.1 faultstring
	Role     string         // 1.2 Role, 1.1 faultactor
	Node     string         // 1.2 Node
	Detail   *etree.Element // detached copy of Detail/detail, or nil
}

// NewFault returns a fault of class c with reason and an optional chain of
// subcodes, outermost first. It is expressed in SOAP 1.2 terms, the richer
// model; Envelope renders it in either version.
func NewFault(c FaultClass, reason string, subcodes ...xmldoc.Name) *Fault {
	return &Fault{
		Version:  V12,
		Code:     V12.Code(c),
		Subcodes: slices.Clone(subcodes),
		Reason:   reason,
	}
}

// Error describes the fault by its codes' local names and its reason.
func (f *Fault) Error() string {
	codes := []string{f.Code.Local}
	for _, s := range f.Subcodes {
		codes = append(codes, s.Local)
	}
	msg := "soap fault " + strings.Join(codes, "/")
	if f.Reason != "" {
		msg += ": " + clipReason(f.Reason)
	}
	return msg
}

func clipReason(s string) string {
	const max = 512
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

// Has reports whether the fault's code or any of its subcodes is code, so
// that one test covers WCF's SOAP 1.1 form (the specific code in faultcode)
// and the SOAP 1.2 form (the same code as a Subcode of Sender).
func (f *Fault) Has(code xmldoc.Name) bool {
	if f.Code == code {
		return true
	}
	for _, s := range f.Subcodes {
		if s == code {
			return true
		}
	}
	return false
}

// Class returns the version-neutral class of the fault. A top-level code
// outside the SOAP namespaces (SOAP 1.1 only) counts as Sender: those are
// the WS-Security and WS-SecureConversation faults WCF sends that way, and
// they all report a problem with the request.
func (f *Fault) Class() FaultClass {
	if c, ok := ClassOf(f.Code); ok {
		return c
	}
	return Sender
}

// chain returns the specific codes below the class, outermost first: the
// subcodes, preceded by the top-level code when that is not a standard one.
func (f *Fault) chain() []xmldoc.Name {
	if _, ok := ClassOf(f.Code); ok {
		return f.Subcodes
	}
	return append([]xmldoc.Name{f.Code}, f.Subcodes...)
}

// code11 is the faultcode of the fault in SOAP 1.1. Like WCF
// (MessageFault.WriteTo11 in dotnet/wcf), it is the first specific code when
// there is one, since a 1.1 receiver sees nothing else; otherwise the
// standard code of the class, or the received 1.1 code unchanged.
func (f *Fault) code11() xmldoc.Name {
	if ch := f.chain(); len(ch) > 0 {
		return ch[0]
	}
	if f.Code.Space == NS11 {
		return f.Code
	}
	return V11.Code(f.Class())
}

// Fault returns the fault the Body carries, nil when the Body is not a
// fault, and an error when it is a malformed one. A Fault must be the only
// element of the Body (SOAP 1.2 part 1 §5.4, WS-I Basic Profile R1000 for
// 1.1), and one in the other SOAP version's namespace is an error, not a
// payload.
func (e *Envelope) Fault() (*Fault, error) {
	var fault *etree.Element
	kids := e.Body.ChildElements()
	for _, c := range kids {
		if c.Tag != "Fault" {
			continue
		}
		ns := c.NamespaceURI()
		if ns == e.Version.Namespace() {
			fault = c
			continue
		}
		if _, ok := VersionOf(ns); ok {
			return nil, fmt.Errorf("%w: Fault in namespace %q inside a %s envelope", ErrBadFault, ns, e.Version)
		}
	}
	if fault == nil {
		return nil, nil
	}
	if len(kids) > 1 {
		return nil, fmt.Errorf("%w: Body holds a Fault and %d other elements", ErrBadFault, len(kids)-1)
	}
	return ParseFault(fault, e.Version)
}

// ParseFault reads a Fault element of version v.
func ParseFault(el *etree.Element, v Version) (*Fault, error) {
	if !xmldoc.Is(el, v.Name("Fault")) {
		return nil, fmt.Errorf("%w: %s is not a %s Fault", ErrBadFault, xmldoc.NameOf(el), v)
	}
	var f *Fault
	var err error
	switch v {
	case V11:
		f, err = parseFault11(el)
	case V12:
		f, err = parseFault12(el)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFault, err)
	}
	return f, nil
}

// SOAP 1.1 fault children are unqualified (§4.4; WS-I BP R1001).
var (
	faultcode   = xmldoc.Name{Local: "faultcode"}
	faultstring = xmldoc.Name{Local: "faultstring"}
	faultactor  = xmldoc.Name{Local: "faultactor"}
	detail11    = xmldoc.Name{Local: "detail"}
)

func parseFault11(el *etree.Element) (*Fault, error) {
	for _, c := range el.ChildElements() {
		n := xmldoc.NameOf(c)
		if n != faultcode && n != faultstring && n != faultactor && n != detail11 {
			// WS-I BP R1000: no other children.
			return nil, fmt.Errorf("unexpected element %s in Fault", n)
		}
	}
	code, err := xmldoc.One(el, faultcode)
	if err != nil {
		return nil, err
	}
	str, err := xmldoc.One(el, faultstring)
	if err != nil {
		return nil, err
	}
	actor, err := xmldoc.Optional(el, faultactor)
	if err != nil {
		return nil, err
	}
	det, err := xmldoc.Optional(el, detail11)
	if err != nil {
		return nil, err
	}
	f := &Fault{Version: V11, Reason: xmldoc.Text(str), Role: optText(actor), Detail: detach(det)}
	if f.Code, err = resolveQName(code); err != nil {
		return nil, err
	}
	return f, nil
}

func optText(el *etree.Element) string {
	if el == nil {
		return ""
	}
	return xmldoc.Text(el)
}

// parseFault12 follows the fixed child order of SOAP 1.2 part 1 §5.4:
// Code, Reason, then optionally Node, Role and Detail, nothing else.
func parseFault12(el *etree.Element) (*Fault, error) {
	kids, err := sequence(el, V12, "Code", "Reason", "?Node", "?Role", "?Detail")
	if err != nil {
		return nil, err
	}
	f := &Fault{Version: V12, Role: optText(kids[3]), Node: optText(kids[2]), Detail: detach(kids[4])}
	if f.Code, f.Subcodes, err = parseCode12(kids[0]); err != nil {
		return nil, err
	}
	if f.Reason, err = parseReason12(kids[1]); err != nil {
		return nil, err
	}
	return f, nil
}

// sequence matches el's element children against names in order; a name
// starting with '?' is optional. Missing optional elements are nil.
func sequence(el *etree.Element, v Version, names ...string) ([]*etree.Element, error) {
	out := make([]*etree.Element, len(names))
	kids := el.ChildElements()
	i := 0
	for j, spec := range names {
		local, optional := strings.CutPrefix(spec, "?")
		if i < len(kids) && xmldoc.Is(kids[i], v.Name(local)) {
			out[j] = kids[i]
			i++
			continue
		}
		if !optional {
			return nil, &xmldoc.NotFoundError{Parent: xmldoc.NameOf(el), Want: v.Name(local), WrongSpace: wrongSpace(kids, i, local)}
		}
	}
	if i < len(kids) {
		return nil, fmt.Errorf("unexpected element %s in %s", xmldoc.NameOf(kids[i]), el.Tag)
	}
	return out, nil
}

func wrongSpace(kids []*etree.Element, i int, local string) string {
	if i < len(kids) && kids[i].Tag == local {
		return kids[i].NamespaceURI()
	}
	return ""
}

// parseCode12 reads Code/Value and the nested Subcode/Value chain. The top
// Value must be one of the SOAP 1.2 codes (part 1 §5.4.6).
func parseCode12(code *etree.Element) (xmldoc.Name, []xmldoc.Name, error) {
	var top xmldoc.Name
	var subs []xmldoc.Name
	for el := code; el != nil; {
		kids, err := sequence(el, V12, "Value", "?Subcode")
		if err != nil {
			return top, nil, err
		}
		n, err := resolveQName(kids[0])
		if err != nil {
			return top, nil, err
		}
		if el == code {
			top = n
		} else {
			subs = append(subs, n)
		}
		el = kids[1]
	}
	if c, ok := ClassOf(top); !ok || top.Space != NS12 || V12.Code(c) != top {
		return top, nil, fmt.Errorf("fault code %s is not a SOAP 1.2 code", top)
	}
	return top, subs, nil
}

// parseReason12 picks the English Text, or the first one when none is
// English (part 1 §5.4.2 allows one per language).
func parseReason12(r *etree.Element) (string, error) {
	var texts []*etree.Element
	for _, c := range r.ChildElements() {
		if !xmldoc.Is(c, V12.Name("Text")) {
			return "", fmt.Errorf("unexpected element %s in Reason", xmldoc.NameOf(c))
		}
		texts = append(texts, c)
	}
	if len(texts) == 0 {
		return "", &xmldoc.NotFoundError{Parent: xmldoc.NameOf(r), Want: V12.Name("Text")}
	}
	for _, t := range texts {
		if isEnglish(t) {
			return xmldoc.Text(t), nil
		}
	}
	return xmldoc.Text(texts[0]), nil
}

func isEnglish(t *etree.Element) bool {
	lang, _ := xmldoc.Attr(t, xmldoc.Name{Space: xmldoc.NSXML, Local: "lang"})
	lang = strings.ToLower(lang)
	return lang == "en" || strings.HasPrefix(lang, "en-")
}
