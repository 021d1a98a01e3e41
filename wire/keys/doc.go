// Package keys computes the symmetric keys of WS-Trust and
// WS-SecureConversation: the P_SHA-1 function (TLS 1.0, RFC 2246 §5), the
// computed key of combined entropy (WS-Trust 1.3 §4.4.4, CK/PSHA1) and
// derived keys (WS-SecureConversation 1.3 §7, DerivedKeyToken).
//
// Bounds on derivation parameters come from the peer, so they are all
// checked before any hashing is done.
package keys
