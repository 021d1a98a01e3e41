// Package wstrust is scproxy's WS-Trust client: the one place that sends
// a RequestSecurityToken to a security token service and decides whether
// the answer may be believed. Every exchange scproxy makes with an STS
// goes through it: the Issue, Renew and Cancel of a security context
// (package session) and the Issue of a SAML token by a token STS (package
// bootstrap).
//
// It owns the transport-level half of an exchange: the SOAP envelope of
// the version the upstream speaks, the WS-Addressing request headers
// (Action, a fresh MessageID, the anonymous ReplyTo, To), the request's
// credential added by the caller's Secure function, the HTTP binding, and
// every check of the reply before its payload is read: a SOAP media type,
// parsing under size and depth limits, a SOAP fault returned as the typed
// *soap.Fault, the SOAP version of the request, HTTP status 200, a reply
// action the operation allows and a RelatesTo naming the request's
// MessageID. Under message security (no TLS) the caller's Open step
// verifies and decrypts the reply first, so that the addressing checked
// and the payload read are those the STS signed. The payload (RequestSecurityTokenResponse or its collection)
// is then read in the request's WS-Trust version by a parser of package
// wire/wssc or wire/saml, which also refuses one in another version's
// namespace. Building the RST and reading the RSTR stay in those wire
// packages; this package only orchestrates.
//
// It implements the message exchange of WS-Trust 1.3 §3.1 and §3.2
// (a RequestSecurityToken answered by a RequestSecurityTokenResponse),
// the Issuance binding §4 (with the final response collection of §4.3 and
// its RSTRC/IssueFinal action), the Renewal binding §5 and the Cancel
// binding §6, and the error handling of §11 (an STS refuses with a SOAP
// fault); and the same bindings of the February 2005 WS-Trust draft that
// WCF's wsHttpBinding speaks, which differ in namespaces and in the body
// of the Issue reply (one Version value of wire/wssc carries both).
// Requests are addressed as WS-Addressing 1.0 Core §3 (or the August 2004
// submission) prescribes, and a reply is related to its request by
// wsa:RelatesTo (WS-Addressing 1.0 Core §3.4). The HTTP binding is SOAP
// 1.1 §6
// (text/xml, SOAPAction) or SOAP 1.2 Part 2 §7 with RFC 3902
// (application/soap+xml with the action parameter).
//
// Debug log lines say what was exchanged and how long it took, never the
// content: a request carries a password, a token or a signature made with
// a secret key.
package wstrust
