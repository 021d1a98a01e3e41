package wssc

import (
	"strings"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ContextFault is what a service's fault says about the security context
// the message was secured with (WS-SecureConversation 1.3 §8).
type ContextFault int

const (
	// ContextUsable is any other fault: the context is not in question.
	ContextUsable ContextFault = iota
	// ContextRenewNeeded is RenewNeeded: the context's key must be renewed.
	ContextRenewNeeded
	// ContextRejected is a fault saying the service does not know the
	// context: a new one must be established.
	ContextRejected
	// ContextSecurityFault is a WS-Security fault (wsse:FailedCheck and
	// kin, or the generic SecurityError of services built on WSS4J) that
	// names no context: what a service that has forgotten a context (a
	// restart) answers when it does not say BadContextToken, as Apache CXF
	// does. It says the context is gone only when the service had accepted
	// messages secured with it before; the caller knows that.
	ContextSecurityFault
)

// FaultEnvelope is what ClassifyFault needs of the envelope a fault came
// in: WCF's fault for a context it does not know is recognised by its
// shape, not by its text alone.
type FaultEnvelope struct {
	// Action is the WS-Addressing Action header; empty when there is none
	// (or the headers are not well-formed WS-Addressing).
	Action string
	// Secured: the envelope carries a wsse:Security header. A service
	// that knows the context secures its faults with it; the fault saying
	// it does not know the context cannot be.
	Secured bool
}

// EnvelopeOf returns what ClassifyFault needs of env, the envelope of a
// fault.
func EnvelopeOf(env *soap.Envelope) FaultEnvelope {
	var fe FaultEnvelope
	if env == nil || env.Header == nil {
		return fe
	}
	if h, v, err := wsa.Read(env.Header); err == nil && v != wsa.None {
		fe.Action = h.Action
	}
	for c := range env.Header.ChildElementsSeq() {
		if c.Tag == "Security" && c.NamespaceURI() == wss.NSWSSE {
			fe.Secured = true
		}
	}
	return fe
}

// ClassifyFault reports what fault f, which came in an envelope shaped as
// env says, says about the context a message was secured with:
// RenewNeeded (either version), or a rejection, which is BadContextToken
// (either version), WCF's SecuritySessionAborted, or the unsecured
// generic fault WCF sends for a token it does not know (see
// unknownTokenFault). Free text alone never classifies a fault: a service
// may echo its input in a fault's reason.
func ClassifyFault(f *soap.Fault, env FaultEnvelope) ContextFault {
	switch {
	case hasCode(f, RenewNeeded):
		return ContextRenewNeeded
	case hasCode(f, BadContextToken), f.Has(sessionAborted), unknownTokenFault(f, env):
		return ContextRejected
	}
	for _, code := range securityFaults {
		if f.Has(code) {
			return ContextSecurityFault
		}
	}
	return ContextUsable
}

// securityFaults are the fault codes of WS-Security 1.0 (§12) a service
// may answer a message with when it no longer knows the context the
// message names, and the generic one of services built on WSS4J, which
// hide the cause by default.
var securityFaults = []xmldoc.Name{
	{Space: wss.NSWSSE, Local: "FailedCheck"},
	{Space: wss.NSWSSE, Local: "InvalidSecurity"},
	{Space: wss.NSWSSE, Local: "InvalidSecurityToken"},
	{Space: wss.NSWSSE, Local: "SecurityTokenUnavailable"},
	{Space: wss.NSWSSE, Local: "FailedAuthentication"},
	{Space: "http://ws.apache.org/wss4j", Local: "SecurityError"},
}

// sessionAborted is the subcode WCF faults with when it has dropped the
// session a context belonged to.
var sessionAborted = xmldoc.Name{Space: NSDotNetSecurity, Local: "SecuritySessionAborted"}

// hasCode reports fault code c, in any version, among f's codes.
func hasCode(f *soap.Fault, c FaultCode) bool {
	for _, v := range Versions {
		if f.Has(v.Fault(c)) {
			return true
		}
	}
	return false
}

// unknownTokenFault recognises the fault WCF sends, unsecured and with a
// generic code, for a message whose context it does not know, by its
// whole shape: a Sender fault with no specific code, in an envelope with
// no Security header and the WS-Addressing fault Action (1.0 or
// 2004/08), whose reason is WCF's ("The message could not be processed.
// This is most likely because the action '...' is incorrect or because
// the message contains an invalid or expired security context token or
// because there is a mismatch between bindings."). A service's own fault
// quoting those words is secured, carries its own action or code, or
// none: it is the application's, and the request is never resent for it.
func unknownTokenFault(f *soap.Fault, env FaultEnvelope) bool {
	_, generic := soap.ClassOf(f.Code)
	return generic && len(f.Subcodes) == 0 && f.Class() == soap.Sender &&
		!env.Secured && (env.Action == wsa.V10.FaultAction() || env.Action == wsa.V200408.FaultAction()) &&
		strings.Contains(strings.ToLower(f.Reason), "invalid or expired security context token")
}
