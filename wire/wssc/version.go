package wssc

import (
	"fmt"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Version is one pair of WS-SecureConversation and WS-Trust namespaces.
// Every URI, element name and action scproxy uses derives from it, so one
// builder or parser serves both versions. The zero Version is invalid.
type Version struct {
	name        string
	sc, trust   string
	scPrefix    string
	trustPrefix string
}

// The versions found in the field; they do not interoperate.
var (
	// Feb2005 is what WCF's wsHttpBinding and WWSAPI speak by default.
	Feb2005 = Version{
		name:        "February 2005",
		sc:          "http://schemas.xmlsoap.org/ws/2005/02/sc",
		trust:       "http://schemas.xmlsoap.org/ws/2005/02/trust",
		scPrefix:    "c",
		trustPrefix: "t",
	}
	// V1_3 is WS-SecureConversation 1.3 with WS-Trust 1.3 (WCF's
	// ws2007HttpBinding, WSS4J's default). WS-SecureConversation 1.4 kept
	// these namespaces, so it is this value too.
	V1_3 = Version{
		name:        "1.3",
		sc:          "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512",
		trust:       "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
		scPrefix:    "sc",
		trustPrefix: "trust",
	}
)

// Versions lists every supported Version.
var Versions = []Version{Feb2005, V1_3}

// VersionOf returns the Version whose WS-SecureConversation or WS-Trust
// namespace is uri.
func VersionOf(uri string) (Version, bool) {
	for _, v := range Versions {
		if uri == v.sc || uri == v.trust {
			return v, true
		}
	}
	return Version{}, false
}

// String names the version.
func (v Version) String() string { return v.name }

// SC is the WS-SecureConversation namespace.
func (v Version) SC() string { return v.sc }

// Trust is the WS-Trust namespace.
func (v Version) Trust() string { return v.trust }

// TokenType is the token type URI of a SecurityContextToken.
func (v Version) TokenType() string { return v.sc + "/sct" }

// DKValueType is the ValueType of a reference to a DerivedKeyToken.
func (v Version) DKValueType() string { return v.sc + "/dk" }

// ComputedKeyPSHA1 is the ComputedKey URI of P_SHA1 combined entropy
// (WS-Trust 1.3 §4.4.4).
func (v Version) ComputedKeyPSHA1() string { return v.trust + "/CK/PSHA1" }

// NonceType is the BinarySecret Type of entropy.
func (v Version) NonceType() string { return v.trust + "/Nonce" }

// SymmetricKeyType is the BinarySecret Type of a key, the default when a
// BinarySecret has no Type (WS-Trust 1.3 §3.3).
func (v Version) SymmetricKeyType() string { return v.trust + "/SymmetricKey" }

// Operation is one of the bindings WS-SecureConversation uses.
type Operation int

// The operations a client performs on a security context.
const (
	Issue Operation = iota
	Renew
	Cancel
)

var opNames = [...]string{Issue: "Issue", Renew: "Renew", Cancel: "Cancel"}

func (op Operation) String() string {
	if op < 0 || int(op) >= len(opNames) {
		return fmt.Sprintf("Operation(%d)", int(op))
	}
	return opNames[op]
}

// suffix is what WS-SecureConversation appends to RST/SCT for op.
func (op Operation) suffix() string {
	if op == Issue {
		return ""
	}
	return "/" + op.String()
}

// RequestType is the RequestType URI of op.
func (v Version) RequestType(op Operation) string { return v.trust + "/" + op.String() }

// Action is the WS-Addressing action of an op request.
func (v Version) Action(op Operation) string { return v.trust + "/RST/SCT" + op.suffix() }

// ReplyAction is the action of the reply to op as WCF and CoreWCF send it:
// <trust>/RSTR/SCT, /RSTR/SCT/Renew or /RSTR/SCT/Cancel in both versions.
// The 1.3 Issue reply keeps the RSTR/SCT action although its body is a
// RequestSecurityTokenResponseCollection: WCF's SCT issuer replies with its
// secure-conversation driver's IssueResponseAction, and WCF's client refuses
// any other action on that reply. See ReplyActions for what a reader accepts.
func (v Version) ReplyAction(op Operation) string { return v.trust + "/RSTR/SCT" + op.suffix() }

// ReplyActions lists every action a reply to op may carry, ReplyAction
// first. A 1.3 Issue reply may also carry <trust>/RSTRC/IssueFinal, the
// final-response action WS-Trust 1.3 gives a response collection, which
// stacks that follow WS-Trust rather than WCF send.
func (v Version) ReplyActions(op Operation) []string {
	out := []string{v.ReplyAction(op)}
	if op == Issue && v == V1_3 {
		out = append(out, v.trust+"/RSTRC/IssueFinal")
	}
	return out
}

// FaultCode is the local name of a WS-SecureConversation fault code
// (WS-SecureConversation 1.3 §8); its namespace is the version's SC.
type FaultCode string

// The fault codes of WS-SecureConversation 1.3 §8 a client reacts to.
const (
	BadContextToken         FaultCode = "BadContextToken"
	UnsupportedContextToken FaultCode = "UnsupportedContextToken"
	UnknownDerivationSource FaultCode = "UnknownDerivationSource"
	RenewNeeded             FaultCode = "RenewNeeded"
	UnableToRenew           FaultCode = "UnableToRenew"
)

var faultCodes = []FaultCode{BadContextToken, UnsupportedContextToken, UnknownDerivationSource, RenewNeeded, UnableToRenew}

// Fault returns the qualified name of fault code c in this version.
func (v Version) Fault(c FaultCode) xmldoc.Name { return xmldoc.Name{Space: v.sc, Local: string(c)} }

// FaultOf recognises a fault code by qualified name, in any version.
func FaultOf(n xmldoc.Name) (Version, FaultCode, bool) {
	v, ok := VersionOf(n.Space)
	if !ok || n.Space != v.sc {
		return Version{}, "", false
	}
	for _, c := range faultCodes {
		if string(c) == n.Local {
			return v, c, true
		}
	}
	return Version{}, "", false
}

// name returns the expanded name of a WS-Trust element.
func (v Version) tname(local string) xmldoc.Name { return xmldoc.Name{Space: v.trust, Local: local} }

// sname returns the expanded name of a WS-SecureConversation element.
func (v Version) sname(local string) xmldoc.Name { return xmldoc.Name{Space: v.sc, Local: local} }

// valid reports whether v is one of the known versions, not the zero value.
func (v Version) valid() bool { return v.sc != "" }
