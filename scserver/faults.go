package scserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// WS-Security fault codes (SOAP Message Security 1.1 §12).
var (
	codeUnsupportedAlgorithm = wsseCode("UnsupportedAlgorithm")
	codeInvalidSecurity      = wsseCode("InvalidSecurity")
	codeInvalidSecurityToken = wsseCode("InvalidSecurityToken")
	codeFailedAuthentication = wsseCode("FailedAuthentication")
	codeFailedCheck          = wsseCode("FailedCheck")
	codeMessageExpired       = wsseCode("MessageExpired")
)

func wsseCode(local string) xmldoc.Name { return xmldoc.Name{Space: wss.NSWSSE, Local: local} }

// trustCode is a WS-Trust fault code (WS-Trust 1.3 §11) of version v.
func trustCode(v wssc.Version, local string) xmldoc.Name {
	return xmldoc.Name{Space: v.Trust(), Local: local}
}

// addressingCode is a WS-Addressing fault code, named as WS-Addressing
// 1.0 (SOAP Binding §6.4) names it, in the message's version (1.0 when it
// has none). The 2004/08 submission (§4) defines fewer faults, some under
// other names: see names200408.
func addressingCode(v wsa.Version, local string) xmldoc.Name {
	if v == wsa.None {
		v = wsa.V10
	}
	if n, ok := names200408[local]; ok && v == wsa.V200408 {
		local = n
	}
	return v.Name(local)
}

// names200408 maps WS-Addressing 1.0 fault names to the 2004/08 fault a
// server of that version sends instead: an invalid header is an invalid
// "message information header", a missing one a required one, and an
// Action differing from the HTTP action, which 2004/08 does not single
// out, is an invalid header. ActionNotSupported, DestinationUnreachable
// and EndpointUnavailable keep their names.
var names200408 = map[string]string{
	"InvalidAddressingHeader":         "InvalidMessageInformationHeader",
	"ActionMismatch":                  "InvalidMessageInformationHeader",
	"MessageAddressingHeaderRequired": "MessageInformationHeaderRequired",
}

// sessionFaultAction is the action WCF gives WS-SecureConversation faults
// (RenewNeeded, BadContextToken); other faults carry WS-Addressing's.
const sessionFaultAction = wssc.NSDotNetSecurity + "/SecureConversationFault"

// rejection is a request the server refuses: the fault it answers with,
// the HTTP status, and the context concerned when one is known. Exported
// functions return it as an error that unwraps to the *soap.Fault.
type rejection struct {
	fault   *soap.Fault
	status  int
	context string
}

func (r *rejection) Error() string { return r.fault.Error() }
func (r *rejection) Unwrap() error { return r.fault }

// code is the most specific code of the fault, for counters and logs.
func (r *rejection) code() xmldoc.Name {
	if n := len(r.fault.Subcodes); n > 0 {
		return r.fault.Subcodes[n-1]
	}
	return r.fault.Code
}

// reject returns a Sender fault with one specific code.
func reject(code xmldoc.Name, format string, args ...any) *rejection {
	return &rejection{fault: soap.NewFault(soap.Sender, fmt.Sprintf(format, args...), code), status: http.StatusInternalServerError}
}

// rejectClass returns a fault of a standard class with no specific code.
func rejectClass(c soap.FaultClass, status int, format string, args ...any) *rejection {
	return &rejection{fault: soap.NewFault(c, fmt.Sprintf(format, args...)), status: status}
}

func (r *rejection) withStatus(status int) *rejection { r.status = status; return r }

func (r *rejection) about(identifier string) *rejection { r.context = identifier; return r }

// badContext answers a context the server cannot use.
func badContext(v wssc.Version, err *ContextError) *rejection {
	return reject(v.Fault(wssc.BadContextToken), "%s", err.Error()).about(err.Identifier)
}

// keyError is a failure to find the key a signature names, other than an
// unusable context.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// authError is a bootstrap credential the server does not trust.
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// signatureRejection maps a dsig.Verify failure to the WS-Security fault
// that names it; v is the WS-SecureConversation version of the message.
func signatureRejection(err error, v wssc.Version) *rejection {
	var (
		ce *ContextError
		ke *keyError
		ae *authError
		al *dsig.AlgorithmError
		de *dsig.DigestError
	)
	switch {
	case errors.As(err, &ce):
		return badContext(v, ce)
	case errors.As(err, &ae):
		return reject(codeFailedAuthentication, "the signing certificate is not trusted: %v", ae.err)
	case errors.As(err, &ke):
		return reject(codeInvalidSecurityToken, "the signature's key cannot be resolved: %v", ke.err)
	case errors.As(err, &al):
		return reject(codeUnsupportedAlgorithm, "%v", err)
	case errors.As(err, &de):
		return reject(codeFailedCheck, "a signed part was changed: %v", err)
	case errors.Is(err, dsig.ErrBadSignature), errors.Is(err, dsig.ErrTruncatedHMAC):
		return reject(codeFailedCheck, "the signature does not verify with the key it names: %v", err)
	}
	return reject(codeInvalidSecurity, "the signature is malformed: %v", err)
}

// parseRejection maps a failure to read the envelope.
func parseRejection(err error) *rejection {
	var (
		ve *soap.VersionError
		le *xmldoc.LimitError
	)
	switch {
	case errors.As(err, &ve):
		return rejectClass(soap.VersionMismatch, http.StatusInternalServerError, "%v", err)
	case errors.As(err, &le):
		return rejectClass(soap.Sender, http.StatusRequestEntityTooLarge, "the message is over this server's limits: %v", err)
	}
	return rejectClass(soap.Sender, http.StatusInternalServerError, "the request is not a well-formed SOAP envelope: %v", err)
}
