// Package interop runs scproxy, as users run it, against independent
// WS-SecureConversation services: an Apache CXF service built from
// testdata/peers/cxf (SC over TLS, username and X.509 bootstraps, WS-SC
// February 2005 and 1.3, SOAP 1.1 and 1.2), checking establishment, echo
// round trips, proactive renewal, re-establishment after the service
// restarts and cancellation at shutdown from both sides of the wire.
//
// The tests need a JDK (17 or later) and Maven; without them they skip,
// except under CI (CI set), where they fail.
package interop
