package wsa

import (
	"fmt"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Namespaces of the two WS-Addressing versions in the field.
const (
	// NS200408 is the August 2004 member submission, spoken by WCF's
	// WSHttpBinding with MessageVersion Soap11WSAddressingAugust2004 and by
	// older Java stacks.
	NS200408 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	// NS10 is the W3C Recommendation, WCF's default (Soap12WSAddressing10).
	NS10 = "http://www.w3.org/2005/08/addressing"
)

// Version is a WS-Addressing version. None (the zero value) means the
// message carries no addressing headers, as with WCF's BasicHttpBinding.
type Version int

// The WS-Addressing versions.
const (
	None    Version = iota // no WS-Addressing
	V200408                // August 2004 member submission
	V10                    // WS-Addressing 1.0
)

// VersionOf returns the version whose namespace is ns.
func VersionOf(ns string) (Version, bool) {
	switch ns {
	case NS200408:
		return V200408, true
	case NS10:
		return V10, true
	}
	return None, false
}

// String names the version.
func (v Version) String() string {
	switch v {
	case None:
		return "no WS-Addressing"
	case V200408:
		return "WS-Addressing 2004/08"
	case V10:
		return "WS-Addressing 1.0"
	}
	return fmt.Sprintf("wsa.Version(%d)", int(v))
}

// Namespace returns the namespace URI of v, "" for None.
func (v Version) Namespace() string {
	switch v {
	case V200408:
		return NS200408
	case V10:
		return NS10
	}
	return ""
}

// Name returns the expanded name local in v's namespace.
func (v Version) Name(local string) xmldoc.Name {
	return xmldoc.Name{Space: v.Namespace(), Local: local}
}

// Anonymous returns the address that means "reply on the back channel" (the
// HTTP response), predefined in WS-Addressing 1.0 Core §3 and in §2 of the
// 2004/08 submission, which spells it under /role/.
func (v Version) Anonymous() string {
	switch v {
	case V200408:
		return NS200408 + "/role/anonymous"
	case V10:
		return NS10 + "/anonymous"
	}
	return ""
}

// FaultAction returns the Action of a generic SOAP fault in v (WS-Addressing
// 1.0 SOAP Binding §6; the 2004/08 submission §4), used when scproxy itself
// answers an application with a fault.
func (v Version) FaultAction() string {
	switch v {
	case V200408:
		return NS200408 + "/fault"
	case V10:
		return NS10 + "/soap/fault"
	}
	return ""
}

// replyRelationship reports whether a RelatesTo element's RelationshipType
// attribute (absent, or value val) names the reply relationship, the only
// one scproxy correlates. 1.0 uses an IRI (Core §3); 2004/08 a QName,
// resolved by resolve, defaulting to wsa:Reply (§3 of the submission).
func (v Version) replyRelationship(val string, present bool, resolve func(string) (xmldoc.Name, bool)) bool {
	if !present {
		return true
	}
	if v == V10 {
		return val == NS10+"/reply"
	}
	n, ok := resolve(val)
	return ok && n == v.Name("Reply")
}
