package soap

import (
	"fmt"
	"strings"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Envelope namespaces of the two SOAP versions.
const (
	NS11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NS12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Version is a SOAP version. The zero value is no version; every method of
// it returns zero values, so a forgotten version shows up as an empty
// namespace rather than as a message in the wrong one.
type Version int

// The SOAP versions scproxy speaks.
const (
	V11 Version = iota + 1 // SOAP 1.1 (W3C Note)
	V12                    // SOAP 1.2 (W3C Recommendation)
)

// VersionOf returns the SOAP version whose envelope namespace is ns.
func VersionOf(ns string) (Version, bool) {
	switch ns {
	case NS11:
		return V11, true
	case NS12:
		return V12, true
	}
	return 0, false
}

// Versions lists both versions, for code and tests that handle each.
var Versions = []Version{V11, V12}

// String names the version as the specifications do.
func (v Version) String() string {
	switch v {
	case V11:
		return "SOAP 1.1"
	case V12:
		return "SOAP 1.2"
	}
	return fmt.Sprintf("soap.Version(%d)", int(v))
}

// Namespace returns the envelope namespace URI of v.
func (v Version) Namespace() string {
	switch v {
	case V11:
		return NS11
	case V12:
		return NS12
	}
	return ""
}

// Name returns the expanded name of the envelope element local in v's
// namespace (Envelope, Header, Body, Fault and the SOAP 1.2 fault parts).
func (v Version) Name(local string) xmldoc.Name {
	return xmldoc.Name{Space: v.Namespace(), Local: local}
}

// MediaType returns the HTTP media type of v without parameters: text/xml
// for SOAP 1.1 (§6 of the 1.1 note), application/soap+xml for SOAP 1.2
// (RFC 3902).
func (v Version) MediaType() string {
	switch v {
	case V11:
		return "text/xml"
	case V12:
		return "application/soap+xml"
	}
	return ""
}

// MustUnderstand returns the expanded name of the mustUnderstand attribute
// of v, which is in the envelope namespace in both versions.
func (v Version) MustUnderstand() xmldoc.Name { return v.Name("mustUnderstand") }

// MustUnderstandValue is the mustUnderstand value scproxy writes: "1" is
// valid in both versions (SOAP 1.1 allows only "0" and "1"; SOAP 1.2 takes
// an xs:boolean), so one value serves both.
const MustUnderstandValue = "1"

// ParseMustUnderstand reads a mustUnderstand attribute value. SOAP 1.1 knows
// only "0" and "1"; SOAP 1.2 also accepts "true" and "false" (xs:boolean,
// whose whitespace facet is collapse). Anything else is an error, because a
// header whose obligation cannot be read must not be treated as optional.
func (v Version) ParseMustUnderstand(s string) (bool, error) {
	if v == V12 {
		s = strings.Trim(s, " \t\r\n")
	}
	switch {
	case s == "1":
		return true, nil
	case s == "0":
		return false, nil
	case v == V12 && s == "true":
		return true, nil
	case v == V12 && s == "false":
		return false, nil
	}
	return false, fmt.Errorf("soap: invalid %s mustUnderstand value %q", v, s)
}

// Role returns the expanded name of the attribute that targets a header
// block at a node: actor in SOAP 1.1 (§4.2.2), role in SOAP 1.2 (§5.2.2).
func (v Version) Role() xmldoc.Name {
	if v == V11 {
		return v.Name("actor")
	}
	return v.Name("role")
}

// FaultClass is a version-neutral standard fault code. The two versions
// name them differently (Client and Server in SOAP 1.1 are Sender and
// Receiver in SOAP 1.2); a class lets a fault be translated between them.
type FaultClass int

// The standard fault classes (SOAP 1.1 §4.4.1, SOAP 1.2 Part 1 §5.4.6).
const (
	Sender FaultClass = iota + 1
	Receiver
	VersionMismatch
	MustUnderstand
	// DataEncodingUnknown exists in SOAP 1.2 only; SOAP 1.1 reports it as
	// Client, the sender being at fault.
	DataEncodingUnknown
)

// String returns the SOAP 1.2 name of the class.
func (c FaultClass) String() string {
	if n := V12.Code(c); n.Local != "" {
		return n.Local
	}
	return fmt.Sprintf("soap.FaultClass(%d)", int(c))
}

// classNames lists the local names of the standard codes per version.
var classNames = map[Version]map[FaultClass]string{
	V11: {Sender: "Client", Receiver: "Server", VersionMismatch: "VersionMismatch", MustUnderstand: "MustUnderstand", DataEncodingUnknown: "Client"},
	V12: {Sender: "Sender", Receiver: "Receiver", VersionMismatch: "VersionMismatch", MustUnderstand: "MustUnderstand", DataEncodingUnknown: "DataEncodingUnknown"},
}

// Code returns the fault code of class c in v, or the zero Name for an
// unknown class or version.
func (v Version) Code(c FaultClass) xmldoc.Name {
	local, ok := classNames[v][c]
	if !ok {
		return xmldoc.Name{}
	}
	return v.Name(local)
}

// ClassOf returns the class of a standard fault code of either version.
// SOAP 1.1 lets a code be refined with dots ("Client.Authentication",
// §4.4.1); such a code has the class of its first part.
func ClassOf(code xmldoc.Name) (FaultClass, bool) {
	v, ok := VersionOf(code.Space)
	if !ok {
		return 0, false
	}
	local := code.Local
	if v == V11 {
		local, _, _ = strings.Cut(local, ".")
	}
	for _, c := range []FaultClass{Sender, Receiver, VersionMismatch, MustUnderstand, DataEncodingUnknown} {
		if classNames[v][c] == local && (v == V12 || c != DataEncodingUnknown) {
			return c, true
		}
	}
	return 0, false
}
