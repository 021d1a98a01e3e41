// Package outbound is scproxy's local hop: the loopback listener legacy
// applications send plain SOAP to, the routing that is the only way from it
// to an upstream (no open proxy), the bridging of SOAP and WS-Addressing
// versions between what the application speaks and what the service wants,
// and the securing of each message with its endpoint's security context in
// the SC-over-TLS profile (WS-SecureConversation 1.3 §3 with the SCT as an
// endorsing token: a Timestamp signed with the context key, as WCF's
// TransportWithMessageCredential and WWSAPI send it), or in the
// message-security profile (message.go; WS-SecurityPolicy 1.2 §7.3
// symmetric binding with the SCT as protection token, as WCF's
// wsHttpBinding in Message mode: the Body and addressing headers signed,
// the Body encrypted, with keys derived from the context key, and the
// service's answer verified and decrypted before anything of it is read).
//
// Each request goes through one pipeline, a named step each: read the
// envelope up to its Body, bridge it to the service's versions
// (wire/bridge), secure it with the securer New chose for the profile,
// forward it, and unbridge the reply. The XML itself is rewritten in wire.
//
// An endpoint, which has a context of its own, is a route's upstream or a
// sub-address configured for it (Route.Endpoints); a secured request to
// any other path below a route is refused, since a context is scoped to
// the address it was issued for. Each route's establishments are
// rate-limited, and idle endpoints are dropped (session.Pool).
//
// Only the part of a message before its Body is parsed; the Body travels as
// the application sent it, so securing costs the same at any message size.
// The message-security profile is the exception: it reads, signs and
// encrypts the Body, and opens the answer's.
// Every failure reaches the application as a SOAP fault in its own version
// whose reason names the endpoint and the cause.
//
// The listener bounds what any local caller can make it hold (limits.go):
// connections open at once, bytes of request bodies in flight (charged as
// they arrive, never as announced), the time to write an answer, and the
// whole shutdown; beyond a bound the answer is 503 with Retry-After.
//
// Whoever calls the listener uses the proxy's credential, so it serves
// only the local users it is told to (callers.go): on loopback TCP the
// uid that owns each connection's peer socket (Linux), on a Unix socket
// those its file mode lets in.
//
// A Front (front.go) puts one listener, with those bounds, in front of
// several services, each a Proxy with its own settings, credential and
// contexts, chosen by the longest route prefix; the set of services is
// replaced as a whole while requests are served, a service kept keeping
// its contexts and one dropped draining before they are cancelled.
package outbound
