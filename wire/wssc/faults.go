package wssc

import (
	"strings"

	"github.com/scproxy/scproxy/wire/soap"
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
)

// ClassifyFault reports what fault f says about the context a message was
// secured with: RenewNeeded (either version), or a rejection, which is
// BadContextToken (either version), WCF's SecuritySessionAborted, or the
// unsecured fault WCF sends for a token it does not know.
func ClassifyFault(f *soap.Fault) ContextFault {
	switch {
	case hasCode(f, RenewNeeded):
		return ContextRenewNeeded
	case hasCode(f, BadContextToken), f.Has(sessionAborted), unknownTokenFault(f):
		return ContextRejected
	}
	return ContextUsable
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
// reason: "The message could not be processed. This is most likely
// because the action '...' is incorrect or because the message contains
// an invalid or expired security context token or because there is a
// mismatch between bindings."
func unknownTokenFault(f *soap.Fault) bool {
	return f.Class() == soap.Sender && strings.Contains(strings.ToLower(f.Reason), "invalid or expired security context token")
}
