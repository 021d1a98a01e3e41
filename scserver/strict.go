package scserver

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Strict makes the server as unforgiving as a WCF wsHttpBinding endpoint,
// so that a client's mistakes can be rehearsed against it: one SOAP
// version, WS-Addressing 1.0 required, exact paths.
type Strict struct {
	// SOAP is the one SOAP version accepted. A request in the other is
	// answered HTTP 415 with WCF's plain-text explanation, before its body
	// is read, as WCF's HTTP transport answers it.
	SOAP soap.Version
	// Paths are the only request paths served, compared exactly (WCF
	// matches an endpoint's address); any other is answered 404. Empty
	// means every path.
	Paths []string
}

// WSHttpBinding returns the rules of a WCF wsHttpBinding endpoint at
// path: SOAP 1.2, WS-Addressing 1.0, that path only.
func WSHttpBinding(path string) *Strict {
	return &Strict{SOAP: soap.V12, Paths: []string{path}}
}

// nsWSA10 is WS-Addressing 1.0, the only version a strict server takes
// (WCF's wsHttpBinding and ws2007HttpBinding).
const nsWSA10 = "http://www.w3.org/2005/08/addressing"

// strictHTTP answers what a strict server refuses before reading a
// request: another path, another SOAP version. nil lets the request on.
func (s *Server) strictHTTP(r *http.Request) *reply {
	st := s.cfg.Strict
	if st == nil {
		return nil
	}
	if len(st.Paths) > 0 && !slices.Contains(st.Paths, r.URL.Path) {
		return plainReply(http.StatusNotFound, fmt.Sprintf("There is no service at %s.", r.URL.Path))
	}
	if r.Method != http.MethodPost {
		return nil // the usual 405 fault
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == st.SOAP.MediaType() {
		return nil
	}
	return plainReply(http.StatusUnsupportedMediaType, fmt.Sprintf(
		"Cannot process the message because the content type '%s' was not the expected type '%s; charset=utf-8'.",
		strings.ReplaceAll(ct, "'", ""), st.SOAP.MediaType()))
}

// strictAddressing refuses, in a strict server, a message without
// WS-Addressing 1.0 headers, with the fault WS-Addressing 1.0 defines.
func (s *Server) strictAddressing(req *request) *rejection {
	if s.cfg.Strict == nil || req.wsa == wsa.V10 {
		return nil
	}
	return reject(xmldoc.Name{Space: nsWSA10, Local: "MessageAddressingHeaderRequired"},
		"A required header representing a Message Addressing Property is not present: this endpoint requires WS-Addressing 1.0 (wsa:Action, wsa:To, wsa:MessageID)")
}

// plainReply is an HTTP error answered in plain text, not SOAP, as a web
// server's transport layer answers it.
func plainReply(status int, text string) *reply {
	return &reply{status: status, contentType: "text/plain; charset=utf-8", body: []byte(text)}
}
