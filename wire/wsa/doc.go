// Package wsa writes and reads the WS-Addressing message headers scproxy
// needs (Action, MessageID, To, ReplyTo, RelatesTo) in either of the two
// versions found in the field; one Version value carries every URI that
// differs between them.
//
// Specifications implemented:
//
//   - Web Services Addressing 1.0 - Core (W3C Recommendation, 9 May 2006):
//     §2 endpoint references (only the Address of ReplyTo is used) and §3
//     the message addressing properties To, ReplyTo, MessageID, RelatesTo
//     and Action, with the predefined anonymous address and reply
//     relationship.
//   - Web Services Addressing 1.0 - SOAP Binding (W3C Recommendation, 9
//     May 2006): §2-3, binding each property to one SOAP header block, and
//     §6, the action of SOAP faults.
//   - Web Services Addressing (WS-Addressing), W3C Member Submission, 10
//     August 2004 (namespace http://schemas.xmlsoap.org/ws/2004/08/addressing):
//     §2 endpoint references and the role/anonymous address, §3 message
//     information headers (RelationshipType is a QName there, defaulting
//     to wsa:Reply), §4 the fault action.
//
// As WCF does, Action and To are written with mustUnderstand="1" in the
// envelope's SOAP namespace, and a request's ReplyTo carries the anonymous
// address, so the reply comes back on the HTTP response. Headers are read
// with exactly-one lookups: a duplicated or mixed-version header is an
// error, never a choice between two values.
//
// Message identifiers are UUIDs made from an io.Reader the caller passes,
// so messages are reproducible byte for byte in tests.
package wsa
