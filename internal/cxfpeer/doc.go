// Package cxfpeer builds and runs the Apache CXF service of
// testdata/peers/cxf (and its clients) for the interop tests and the
// performance yardstick: a JDK and Maven build it once per hash of its
// sources into the user's cache directory; the service serves one echo
// endpoint per scenario and logs every message.
//
// Two listeners: loopback HTTPS for SC over TLS (the context token
// endorses each message, TLS protects it), and loopback plain HTTP for the
// message-security scenarios (WS-SecurityPolicy SymmetricBinding whose
// protection token is the SecureConversationToken, bootstrapped by
// AnonymousForCertificate, UserNameForCertificate, MutualCertificate or
// MutualCertificate10), each named by its path (MsgScenario). CXF's own
// clients are here too: the load client of the yardstick (Client) and the
// message-security client that proves each scenario (MsgClient).
package cxfpeer
