// Package msgsec protects a SOAP envelope with message security and opens
// a protected one: the symmetric binding whose protection token is a
// security context (the steady state of WCF's wsHttpBinding in Message
// mode and of CXF/Metro SymmetricBinding services), the same binding keyed
// by an EncryptedKey made for the service certificate (the bootstraps
// AnonymousForCertificate, UserNameForCertificate and MutualCertificate),
// and the asymmetric binding (MutualCertificate10).
//
// One Profile does both directions for both roles: Protect signs and
// encrypts an outgoing envelope and returns what checking the answer
// needs (Sent); Open checks an incoming envelope strictly and returns it
// plain (Opened), with what protecting the answer needs. A client
// protects a request and opens the response; a server opens the request
// and protects the response with Opened.Reply. The role decides only
// which addressing headers are expected (RelatesTo in responses) and who
// confirms signatures.
//
// It implements:
//
//   - WS-SecurityPolicy 1.2 §6.1 (the algorithm suites: Basic128/192/256,
//     TripleDes, their Sha256 and Rsa15 variants), §6.3 (protection order:
//     SignBeforeEncrypting, EncryptBeforeSigning, EncryptSignature),
//     §7.1-7.3 (the symmetric and asymmetric bindings, the protection token,
//     RequireDerivedKeys) and §8 (signed, encrypted and endorsing
//     supporting tokens: an X.509 token, a security context over the
//     bootstrap binding, or both, each endorsing the primary signature)
//     as WCF's MessageProtectionOrder and SecurityAlgorithmSuite use them;
//   - WS-Security 1.1 §8 (signatures over the Timestamp, Body and
//     WS-Addressing headers), §9 (encryption: xenc:ReferenceList in the
//     Security header, Body content as EncryptedData of Type Content, the
//     Signature, the UsernameToken and SignatureConfirmation as
//     EncryptedData of Type Element), §7.3 (the EncryptedKeySHA1 key
//     identifier with which a server names the key of the request it
//     answers) and §8.5 (SignatureConfirmation);
//   - WS-Security X.509 Token Profile 1.1 §3.2 (references to a
//     certificate not in the message, by ThumbprintSHA1, subject key
//     identifier or issuer and serial number: the service certificate a
//     RecipientToken never includes, accepted only when the reference
//     names the certificate the caller expects, Expect.Peer, or its own,
//     Expect.Own);
//   - WS-SecureConversation 1.3 §7 (DerivedKeyTokens: one for signing and
//     one for encryption, each with a fresh 16-byte nonce, in the
//     namespace of the configured version; wire/wssc builds and parses
//     them, wire/keys derives and bounds them).
//
// Opening is strict: every element is found as exactly one; only what a
// ReferenceList names is decrypted, each reference resolved to exactly
// one EncryptedData; the signature (wire/dsig) must be keyed by the
// protection token the caller accepts and cover the Body, the Timestamp
// and every addressing header present; the Timestamp must be fresh;
// RelatesTo must be the request's MessageID; SignatureConfirmation is
// checked when the policy asks for it. Every decryption failure is
// xenc.ErrDecrypt. Nothing of a message that fails is returned.
//
// A client passes Expect.Request (what Protect returned) to Open; a
// server passes its certificate (Expect.Own) to unwrap EncryptedKeys and a
// ContextKeys callback to find contexts by Identifier, and answers with
// Opened.Reply and Opened.SignatureValues. ContextKeys lists the current key
// first and, during a rollover, the previous one: the keys are tried in
// that order, and the one that verifies keys the answer.
//
// The Body is read (parsed, digested, encrypted) in this profile only;
// canonicalization goes through wire/c14n, which handles bodies of any
// element count. The plaintext of the Body is its content serialized as
// it stands, never its canonical form, which drops the namespace
// declarations that only QNames in content use. A receiver checks the
// Body's digest over its canonical start tag, the plaintext and its end
// tag first (a sender that encrypts canonical content saves it a second
// canonicalization), then over the decrypted tree canonicalized. The
// sender canonicalizes the Body's content where it is, not on a copy
// (c14n.ExclusiveInPlace), after serializing it: Protect consumes the
// envelope it is given.
package msgsec
