package wss

import (
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// PrefixSOAP is the prefix NewSecurityHeader binds to the envelope
// namespace for its mustUnderstand attribute.
const PrefixSOAP = "s"

// NewSecurityHeader returns an empty wsse:Security header block with
// mustUnderstand="1" in the SOAP envelope namespace soapNS (SOAP 1.1 or 1.2,
// given by URI). Both namespaces are declared on the element; the envelope
// one is redundant once inserted under an envelope using the same prefix,
// which changes nothing for canonicalization or for any reader.
func NewSecurityHeader(soapNS string) *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "Security")
	el.CreateAttr("xmlns:"+PrefixSOAP, soapNS)
	el.CreateAttr(PrefixSOAP+":mustUnderstand", "1")
	return el
}

// FindSecurity returns the one wsse:Security block of a SOAP Header
// element. None or several is an error: scproxy never targets SOAP actors
// or roles, and a second block is a classic place to hide a forged token.
func FindSecurity(header *etree.Element) (*etree.Element, error) {
	sec, err := xmldoc.One(header, NameSecurity)
	if err != nil {
		return nil, fmt.Errorf("wss: %w", err)
	}
	return sec, nil
}
