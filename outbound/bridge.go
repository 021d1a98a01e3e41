package outbound

import (
	"net/http"
	"strings"

	"github.com/beevik/etree"

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
	if changed && hdr != nil && len(hdr.ChildElements()) == 0 {
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
