// Package soap reads and writes SOAP 1.1 and SOAP 1.2 envelopes and faults.
//
// Both versions are handled by one code path; a Version value supplies what
// differs between them: the envelope namespace, the HTTP media type and
// where the action travels, the mustUnderstand and actor/role attributes,
// and the fault codes.
//
// Specifications implemented:
//
//   - SOAP 1.1 (W3C Note, 8 May 2000): §4 envelope structure, §4.2 the
//     Header and its mustUnderstand and actor attributes, §4.3 the Body,
//     §4.4 the Fault element (faultcode, faultstring, faultactor, detail)
//     and §4.4.1 its codes (VersionMismatch, MustUnderstand, Client,
//     Server); §6.1.1 the SOAPAction HTTP header.
//   - SOAP 1.2 Part 1: Messaging Framework (W3C Recommendation, second
//     edition): §5 the message construct, §5.1 Envelope, §5.2 Header and
//     its role and mustUnderstand attributes, §5.3 Body, §5.4 Fault (Code,
//     Subcode, Value, Reason, Node, Role, Detail) and §5.4.6 its codes
//     (VersionMismatch, MustUnderstand, DataEncodingUnknown, Sender,
//     Receiver).
//   - RFC 3902 (application/soap+xml) and its action parameter.
//   - WS-I Basic Profile 1.1 R1011, which forbids elements after the Body
//     in SOAP 1.1; scproxy applies it so that both versions accept the
//     same envelope shape and nothing can hide behind the Body.
//
// Where the specifications leave room, scproxy follows what WCF sends: a
// SOAP 1.1 fault carries the specific code (for instance
// wsc:BadContextToken) directly in faultcode, where SOAP 1.2 nests it in a
// Subcode under Sender.
package soap
