package bridge

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Side is the SOAP and WS-Addressing versions one side of the hop speaks
// (wsa.None for no addressing).
type Side struct {
	SOAP       soap.Version
	Addressing wsa.Version
}

// Hop is one request-reply exchange between an application and its
// service, as far as translating between them needs to know.
type Hop struct {
	// App is what the application sent; Headers are its addressing
	// headers as wsa.Read found them.
	App     Side
	Headers wsa.Headers
	// Upstream is what the service expects.
	Upstream Side
	// Action is the request's action: wsa:Action, else the one HTTP
	// carried.
	Action string
	// To is the service's address, which the application did not use (it
	// addressed the proxy).
	To string
	// Rand is where a MessageID comes from when the application sent none.
	Rand io.Reader
}

// RefusedError is a request the bridge will not carry to the service; its
// text tells the application why.
type RefusedError struct{ err error }

// Error says why the request is refused.
func (e *RefusedError) Error() string { return e.err.Error() }

// Unwrap returns the cause, when there is one.
func (e *RefusedError) Unwrap() error { return errors.Unwrap(e.err) }

func refuse(format string, args ...any) error {
	return &RefusedError{fmt.Errorf(format, args...)}
}

// Request rewrites the application's envelope m into the service's SOAP
// and WS-Addressing versions.
//
// When both sides use the same WS-Addressing version the application's
// headers stay, with To set to h.To. Otherwise they are replaced by the
// request-reply set WCF writes: Action, MessageID (the application's when
// it sent one), the anonymous ReplyTo and To. A ReplyTo other than
// anonymous cannot be carried across versions and is refused, as is a
// request already carrying a WS-Security header. Refusals are
// *RefusedError.
func (h *Hop) Request(m *splice.Message) error {
	if carriesSecurity(m.Env.Header) {
		return refuse("the request already carries a WS-Security header; scproxy adds its own and does not forward the application's")
	}
	if err := m.Convert(h.Upstream.SOAP); err != nil {
		return refuse("cannot translate the envelope to %s: %w", h.Upstream.SOAP, err)
	}
	av, ta := h.App.Addressing, h.Upstream.Addressing
	if av == ta {
		if ta != wsa.None {
			setTo(m.Env.Header, ta, h.To)
		}
		return nil
	}
	if h.Headers.ReplyTo != "" && h.Headers.ReplyTo != av.Anonymous() {
		return refuse("ReplyTo %q cannot be translated from %s to %s; only request-reply over HTTP is supported", h.Headers.ReplyTo, av, ta)
	}
	removeNamespace(m.Env.Header, av.Namespace())
	if ta == wsa.None {
		return nil
	}
	if h.Action == "" {
		return refuse("the service expects WS-Addressing, which needs an action: send a SOAPAction header (SOAP 1.1) or the action parameter (SOAP 1.2)")
	}
	msgID := h.Headers.MessageID
	if msgID == "" {
		var err error
		if msgID, err = wsa.NewMessageID(h.Rand); err != nil {
			return err
		}
	}
	out := wsa.Headers{Action: h.Action, MessageID: msgID, ReplyTo: ta.Anonymous(), To: h.To}
	if _, err := out.AddTo(m.Env.EnsureHeader(), ta); err != nil {
		return refuse("adding WS-Addressing headers: %w", err)
	}
	return nil
}

// Response turns the service's answer m into what the application
// expects: the answer's Security header (the service's Timestamp,
// addressed to scproxy) removed, WS-Addressing headers removed or
// translated when the application used none or another version, and the
// envelope in the application's SOAP version.
func (h *Hop) Response(m *splice.Message) error {
	hdr := m.Env.Header
	changed := removeNamespace(hdr, wss.NSWSSE)
	av, ta := h.App.Addressing, h.Upstream.Addressing
	if av != ta && ta != wsa.None && hdr != nil {
		got, rv, err := wsa.Read(hdr)
		if err != nil {
			return err
		}
		if rv != wsa.None {
			changed = removeNamespace(hdr, rv.Namespace()) || changed
			if av != wsa.None {
				back := wsa.Headers{Action: got.Action, MessageID: got.MessageID, RelatesTo: h.Headers.MessageID}
				if _, err := back.AddTo(hdr, av); err != nil {
					return err
				}
			}
		}
	}
	if changed && hdr != nil && empty(hdr) {
		m.Env.Root.RemoveChild(hdr)
		m.Env.Header = nil
	}
	return m.Convert(h.App.SOAP)
}

// setTo points the application's wsa:To at the service, adding one when
// the application sent none, under Action's prefix. The To declares that
// prefix itself unless the Header already binds it to v's namespace: the
// application may have declared it on Action alone, or bound it to
// another namespace everywhere but on Action.
func setTo(header *etree.Element, v wsa.Version, to string) {
	if el, err := xmldoc.Optional(header, v.Name("To")); err == nil && el != nil {
		el.SetText(to)
		return
	}
	action, err := xmldoc.One(header, v.Name("Action"))
	if err != nil {
		return // wsa.Read has already required exactly one Action
	}
	el := header.CreateElement("To")
	el.Space = action.Space
	if el.NamespaceURI() != v.Namespace() {
		decl := "xmlns"
		if action.Space != "" {
			decl += ":" + action.Space
		}
		el.CreateAttr(decl, v.Namespace())
	}
	el.SetText(to)
}

// empty reports whether el has no element child, without collecting them
// (this runs for every answer).
func empty(el *etree.Element) bool {
	for range el.ChildElementsSeq() {
		return false
	}
	return true
}

// removeNamespace removes the header blocks in namespace ns.
func removeNamespace(header *etree.Element, ns string) bool {
	if header == nil || ns == "" {
		return false
	}
	removed := false
	for _, c := range header.ChildElements() {
		if c.NamespaceURI() == ns {
			header.RemoveChild(c)
			removed = true
		}
	}
	return removed
}

// securityNamespaces are the namespaces a WS-Security header has had: the
// OASIS standard's (1.0 and 1.1) and the drafts WSE 1.0 and early stacks
// sent. A service may still honour a draft's header.
var securityNamespaces = []string{
	wss.NSWSSE,
	"http://schemas.xmlsoap.org/ws/2002/04/secext",
	"http://schemas.xmlsoap.org/ws/2002/07/secext",
	"http://schemas.xmlsoap.org/ws/2002/12/secext",
	"http://schemas.xmlsoap.org/ws/2003/06/secext",
}

// carriesSecurity reports a Security element of any WS-Security version
// anywhere in the Header, not only as a header block: scproxy's own must
// be the only one the service can find, even by a search of the whole
// Header.
func carriesSecurity(header *etree.Element) bool {
	if header == nil {
		return false
	}
	found := false
	xmldoc.Walk(header, func(el *etree.Element) {
		found = found || el.Tag == "Security" && slices.Contains(securityNamespaces, el.NamespaceURI())
	})
	return found
}
