package outbound

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// bridgeRequest rewrites the application's envelope into the upstream's
// SOAP and WS-Addressing versions.
//
// The SOAP version changes under a fresh prefix (see splice.Convert). When
// both sides use the same WS-Addressing version the application's headers
// stay, with To set to the real endpoint (the application addressed the
// proxy). Otherwise the application's addressing headers are replaced by
// the request-reply set WCF writes: Action, MessageID (the application's
// when it sent one), the anonymous ReplyTo and To. A ReplyTo other than
// anonymous cannot be carried across versions and is refused.
func (x *exchange) bridgeRequest(m *splice.Message) error {
	if err := m.Convert(x.sent.SOAP); err != nil {
		return appError(http.StatusBadRequest, CodeBadRequest, "cannot translate the envelope to %s: %v", x.sent.SOAP, err)
	}
	av, ta := x.app.addressing, x.sent.Addressing
	to := x.target.String()
	if av == ta {
		if ta != wsa.None {
			setTo(m.Env.Header, ta, to)
		}
		return nil
	}
	h := x.app.headers
	if h.ReplyTo != "" && h.ReplyTo != av.Anonymous() {
		return appError(http.StatusBadRequest, CodeBadRequest, "ReplyTo %q cannot be translated from %s to %s; only request-reply over HTTP is supported", h.ReplyTo, av, ta)
	}
	removeNamespace(m.Env.Header, av.Namespace())
	if ta == wsa.None {
		return nil
	}
	if x.action == "" {
		return appError(http.StatusBadRequest, CodeBadRequest, "the service expects WS-Addressing, which needs an action: send a SOAPAction header (SOAP 1.1) or the action parameter (SOAP 1.2)")
	}
	msgID := h.MessageID
	if msgID == "" {
		var err error
		if msgID, err = wsa.NewMessageID(x.p.rand); err != nil {
			return err
		}
	}
	out := wsa.Headers{Action: x.action, MessageID: msgID, ReplyTo: ta.Anonymous(), To: to}
	if _, err := out.AddTo(m.Env.EnsureHeader(), ta); err != nil {
		return appError(http.StatusBadRequest, CodeBadRequest, "adding WS-Addressing headers: %v", err)
	}
	return nil
}

// setTo points the application's wsa:To at the upstream, adding one when
// the application sent none.
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
	if action.Space == "" { // Action declares the default namespace itself
		el.CreateAttr("xmlns", v.Namespace())
	}
	el.SetText(to)
}

// hasChildElement reports whether el has an element child, without
// collecting them (this runs for every answer).
func hasChildElement(el *etree.Element) bool {
	for range el.ChildElementsSeq() {
		return true
	}
	return false
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

// bridgeResponse turns the upstream's answer into what the application
// expects: the response's Security header (the service's Timestamp,
// addressed to scproxy) removed, WS-Addressing headers removed or
// translated when the application used none or another version, and the
// envelope in the application's SOAP version.
func (x *exchange) bridgeResponse(m *splice.Message) error {
	hdr := m.Env.Header
	changed := removeNamespace(hdr, wss.NSWSSE)
	av, ta := x.app.addressing, x.sent.Addressing
	if av != ta && ta != wsa.None && hdr != nil {
		h, rv, err := wsa.Read(hdr)
		if err != nil {
			return err
		}
		if rv != wsa.None {
			changed = removeNamespace(hdr, rv.Namespace()) || changed
			if av != wsa.None {
				back := wsa.Headers{Action: h.Action, MessageID: h.MessageID, RelatesTo: x.app.headers.MessageID}
				if _, err := back.AddTo(hdr, av); err != nil {
					return err
				}
			}
		}
	}
	if changed && hdr != nil && !hasChildElement(hdr) {
		m.Env.Root.RemoveChild(hdr)
		m.Env.Header = nil
	}
	return m.Convert(x.app.soap)
}

// renewNeeded reports WS-SecureConversation's RenewNeeded, either version.
func renewNeeded(f *soap.Fault) bool {
	for _, v := range wssc.Versions {
		if f.Has(v.Fault(wssc.RenewNeeded)) {
			return true
		}
	}
	return false
}

// contextRejected reports whether a service fault says the server does not
// know the context it was sent with: WS-SecureConversation's
// BadContextToken (either version), WCF's SecuritySessionAborted, and the
// unsecured fault WCF sends for an unknown token.
func contextRejected(f *soap.Fault) bool {
	for _, v := range wssc.Versions {
		if f.Has(v.Fault(wssc.BadContextToken)) {
			return true
		}
	}
	if f.Has(xmldoc.Name{Space: wssc.NSDotNetSecurity, Local: "SecuritySessionAborted"}) {
		return true
	}
	// WCF: "The message could not be processed. This is most likely because
	// the action '...' is incorrect or because the message contains an
	// invalid or expired security context token or because there is a
	// mismatch between bindings."
	return f.Class() == soap.Sender && strings.Contains(strings.ToLower(f.Reason), "invalid or expired security context token")
}

// securityFaults are the fault codes a service may answer a message with
// when it no longer knows the context the message names: WS-Security 1.0's,
// and the generic SecurityError of services built on WSS4J, which hide the
// cause by default.
var securityFaults = []xmldoc.Name{
	{Space: wss.NSWSSE, Local: "FailedCheck"},
	{Space: wss.NSWSSE, Local: "InvalidSecurity"},
	{Space: wss.NSWSSE, Local: "InvalidSecurityToken"},
	{Space: wss.NSWSSE, Local: "SecurityTokenUnavailable"},
	{Space: wss.NSWSSE, Local: "FailedAuthentication"},
	{Space: "http://ws.apache.org/wss4j", Local: "SecurityError"},
}

// contextForgotten reports whether a fault means that the service has lost
// a context it accepted before: a security fault (Apache CXF answers an
// unknown context with wsse:FailedCheck, or with WSS4J's SecurityError when
// it hides the cause, as it does by default, instead of BadContextToken) in
// answer to a message secured with a context the service has already
// accepted messages with. A context never accepted is not retried, so that
// a service that refuses every message costs no establishment per request.
func contextForgotten(f *soap.Fault, c *session.Context) bool {
	if c == nil || !accepted(c) {
		return false
	}
	for _, code := range securityFaults {
		if f.Has(code) {
			return true
		}
	}
	return false
}

// acceptedKey marks, in a context's memo, that the service has answered a
// message secured with it without a fault.
type acceptedKey struct{}

func markAccepted(c *session.Context) {
	_, _ = c.Memo(acceptedKey{}, func() (any, error) { return true, nil })
}

var errNotAccepted = errors.New("not accepted")

func accepted(c *session.Context) bool {
	_, ok := c.Memo(acceptedKey{}, func() (any, error) { return nil, errNotAccepted })
	return ok == nil
}

// Limits of what scproxy reads of an application's request: the
// Envelope, the Header with every block in it, and the Body's start tag.
// Real headers hold tens of elements and short strings (WCF's reader
// quotas refuse strings over 8192 characters by default). Under the
// general limits a 600 KB header of empty elements would cost 30 MB (the
// tree costs about 300 bytes per element), and a 3 MiB attribute 35 MB
// and 50 ms; the Body, never read, may be as large as MaxBody.
const (
	maxHeadElements = 1024
	maxHeadToken    = 64 << 10
)

// headLimits are the limits for reading an application's request.
func headLimits(l xmldoc.Limits) xmldoc.Limits {
	l.MaxElements, l.MaxTokenBytes = maxHeadElements, maxHeadToken
	return l
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
