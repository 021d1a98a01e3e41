// Package secure puts a WS-Security header on an outgoing SOAP envelope:
// a Timestamp and, depending on the credential, a security context token
// with an HMAC signature made with the context key or, on request, with a
// key derived from it through a DerivedKeyToken with a fresh nonce
// (WS-SecureConversation 1.3 §§3, 7 as WCF's SecureConversation over
// transport uses it), an X.509 BinarySecurityToken
// with an RSA signature (X.509 Token Profile 1.1), or a UsernameToken
// (UsernameToken Profile 1.1). The signature is always over the Timestamp
// (WS-Security 1.1 §10) and, when asked, over the Body.
//
// A message read by splice is secured without parsing its Body
// (SplicedContext): with a precomputed header (ContextHeader) when the
// context allows one, the long way otherwise.
//
// It refuses an envelope that already carries a Security header: a header
// supplied by the application is not scproxy's to vouch for.
package secure
