// Package wssc builds and parses the WS-Trust and WS-SecureConversation
// messages scproxy exchanges to establish, renew and cancel a security
// context: RequestSecurityToken bodies, RequestSecurityTokenResponse(
// Collection) payloads, SecurityContextTokens and DerivedKeyTokens. Both
// sides are here: the client's builders and response parser, and the
// issuer's request parser and WCF-shaped response builders used by the
// built-in server (scserver).
//
// It implements WS-Trust 1.3 §4 (RequestSecurityToken and
// RequestSecurityTokenResponse: the Issue binding, §4.1, the response
// collection of §4.3 and the response of §4.4), §4.4 (Entropy,
// BinarySecret and computed keys with CK/PSHA1), and the Renew and Cancel
// bindings (§5 and §6) as WS-SecureConversation uses them;
// WS-SecureConversation 1.3 §3 (the SecurityContextToken, kept byte for byte
// as received), §7 (DerivedKeyToken and P_SHA1 key derivation) and §8
// (the fault codes). The February 2005 drafts that WCF's wsHttpBinding speaks
// differ in namespaces and in the body of the Issue reply; one Version value
// carries those differences, so no builder or parser exists once per version.
//
// Where the specifications leave a choice, scproxy does what WCF does, since
// WCF and CoreWCF are the servers it must reach: no ComputedKeyAlgorithm in
// requests, RSTR/SCT reply actions, the key Instance as an attribute of the
// unattached reference, no Properties in a DerivedKeyToken.
package wssc
