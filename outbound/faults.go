package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// NSFault is the namespace of the subcodes scproxy puts in the faults it
// makes itself, so that an application can tell them from the service's.
const NSFault = "urn:scproxy:fault"

// Subcodes of scproxy's own faults.
var (
	CodeNoRoute        = xmldoc.Name{Space: NSFault, Local: "NoRoute"}
	CodeForbidden      = xmldoc.Name{Space: NSFault, Local: "Forbidden"}
	CodeBadRequest     = xmldoc.Name{Space: NSFault, Local: "BadRequest"}
	CodeTooLarge       = xmldoc.Name{Space: NSFault, Local: "TooLarge"}
	CodeUnreachable    = xmldoc.Name{Space: NSFault, Local: "UpstreamUnreachable"}
	CodeUntrusted      = xmldoc.Name{Space: NSFault, Local: "UpstreamUntrusted"}
	CodeTimeout        = xmldoc.Name{Space: NSFault, Local: "UpstreamTimeout"}
	CodeBadResponse    = xmldoc.Name{Space: NSFault, Local: "BadUpstreamResponse"}
	CodeNoContext      = xmldoc.Name{Space: NSFault, Local: "NoSecurityContext"}
	CodeInternal       = xmldoc.Name{Space: NSFault, Local: "Internal"}
	CodeMethodNotAllow = xmldoc.Name{Space: NSFault, Local: "MethodNotAllowed"}
	CodeBusy           = xmldoc.Name{Space: NSFault, Local: "Busy"}
)

// proxyError is a failure the proxy answers with a fault of its own.
type proxyError struct {
	status int
	class  soap.FaultClass
	code   xmldoc.Name
	reason string
}

func (e *proxyError) Error() string { return e.reason }

func appError(status int, code xmldoc.Name, format string, args ...any) *proxyError {
	return &proxyError{status: status, class: soap.Sender, code: code, reason: fmt.Sprintf(format, args...)}
}

func upstreamError(status int, code xmldoc.Name, format string, args ...any) *proxyError {
	return &proxyError{status: status, class: soap.Receiver, code: code, reason: fmt.Sprintf(format, args...)}
}

// fromUpstream turns a failed upstream call or establishment into the
// fault the application gets: the reason names the endpoint and the cause.
func fromUpstream(endpoint string, err error) *proxyError {
	var ue *upstream.Error
	var se *session.Error
	var f *soap.Fault
	var held *session.HeldError
	what := "the call to " + endpoint
	if errors.As(err, &se) {
		what = fmt.Sprintf("%s a security context with %s", se.Doing(), endpoint)
	}
	switch {
	case errors.As(err, &held) && held.Err != nil:
		// Held by the backoff: the last failure's fault, saying when the
		// next attempt is.
		pe := fromUpstream(endpoint, held.Err)
		pe.reason += fmt.Sprintf(" (not tried again: %d attempt(s) failed, %s)", held.Failures, held.Next())
		return pe
	case held != nil:
		return upstreamError(http.StatusServiceUnavailable, CodeNoContext, "%s: %v", what, held)
	case errors.As(err, &f):
		return upstreamError(http.StatusBadGateway, CodeNoContext, "%s: the STS refused: %s", what, f.Error())
	case errors.As(err, &ue):
		switch ue.Kind {
		case upstream.Untrusted, upstream.TLSFailed:
			return upstreamError(http.StatusBadGateway, CodeUntrusted, "%s failed: %s (%v); the server's CA must be among the trusted roots", what, ue.Kind, ue.Err)
		case upstream.Timeout:
			return upstreamError(http.StatusGatewayTimeout, CodeTimeout, "%s timed out: %v", what, ue.Err)
		case upstream.TooLarge:
			return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: the response is larger than the limit on body size", what)
		case upstream.Canceled:
			return upstreamError(http.StatusServiceUnavailable, CodeTimeout, "%s was canceled by the caller", what)
		}
		return upstreamError(http.StatusBadGateway, CodeUnreachable, "%s failed: %s: %v", what, ue.Kind, ue.Err)
	case errors.Is(err, context.DeadlineExceeded):
		return upstreamError(http.StatusGatewayTimeout, CodeTimeout, "%s timed out", what)
	case errors.Is(err, context.Canceled):
		return upstreamError(http.StatusServiceUnavailable, CodeTimeout, "%s was canceled by the caller", what)
	case se != nil:
		return upstreamError(http.StatusBadGateway, CodeNoContext, "%s failed: %v", what, se.Err)
	}
	return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s failed: %v", what, err)
}

// writeFault answers with fault f in SOAP version v.
func writeFault(w http.ResponseWriter, v soap.Version, status int, f *soap.Fault) {
	if v != soap.V11 && v != soap.V12 {
		v = soap.V11
	}
	env, err := f.Envelope(v)
	if err != nil {
		http.Error(w, "scproxy: "+f.Reason, status)
		return
	}
	ct, _, _ := v.ContentType("")
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(env.Bytes())
}

func (e *proxyError) write(w http.ResponseWriter, v soap.Version) {
	writeFault(w, v, e.status, soap.NewFault(e.class, "scproxy: "+e.reason, e.code))
}
