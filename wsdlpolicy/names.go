package wsdlpolicy

import (
	"slices"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Namespaces of the documents read.
const (
	nsWSDL     = "http://schemas.xmlsoap.org/wsdl/"
	nsSOAP11   = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsSOAP12   = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsWSP12    = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsWSP15    = "http://www.w3.org/ns/ws-policy"
	nsWSU      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsSP11     = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"
	nsSP12     = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
	nsSP13     = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200802"
	nsMSSP     = "http://schemas.microsoft.com/ws/2005/07/securitypolicy"
	nsWSAW     = "http://www.w3.org/2006/05/addressing/wsdl"
	nsWSAM     = "http://www.w3.org/2007/05/addressing/metadata"
	nsWSAP0408 = "http://schemas.xmlsoap.org/ws/2004/08/addressing/policy"
	nsWSA10    = "http://www.w3.org/2005/08/addressing"
	nsWSA0408  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSID     = "http://schemas.xmlsoap.org/ws/2006/02/addressingidentity"
	nsDS       = "http://www.w3.org/2000/09/xmldsig#"
)

// wspSpaces are the two WS-Policy namespaces; spSpaces the WS-SecurityPolicy
// ones whose assertions are read (1.3 only adds assertions to 1.2's).
var (
	wspSpaces = []string{nsWSP15, nsWSP12}
	spSpaces  = []string{nsSP11, nsSP12, nsSP13}
)

// isIn reports whether el's local name is local and its namespace one of
// spaces.
func isIn(el *etree.Element, local string, spaces []string) bool {
	return el != nil && el.Tag == local && slices.Contains(spaces, el.NamespaceURI())
}

// isSP reports whether el is the WS-SecurityPolicy assertion local, in any
// version.
func isSP(el *etree.Element, local string) bool { return isIn(el, local, spSpaces) }

// isWSP reports whether el is the WS-Policy element local, in either version.
func isWSP(el *etree.Element, local string) bool { return isIn(el, local, wspSpaces) }

func wsdlName(local string) xmldoc.Name { return xmldoc.Name{Space: nsWSDL, Local: local} }
