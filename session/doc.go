// Package session keeps one WS-SecureConversation security context per
// upstream endpoint, as its client: it establishes the context with a
// WS-Trust Issue exchange (WS-SecureConversation 1.3 §3, WS-Trust 1.3 §4)
// bootstrapped by a credential, hands the current context to every request
// without taking a lock, and lets a rejected context be dropped so the next
// request establishes a new one.
//
// The concurrency follows the shape of a shared, expiring credential: an
// immutable *Context behind an atomic pointer, one establishment in flight
// at a time whose result every waiting request shares, run on a context of
// its own so that a request that gives up does not cancel it for the
// others, and an Invalidate that only drops the context the server
// actually rejected.
package session
