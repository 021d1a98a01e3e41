// Package dsig makes and checks detached XML signatures the way
// WS-Security uses them (WS-Security 1.1 §8; XML Signature 1.1 §§3-4):
// several same-document references resolved by Id, exclusive c14n for
// SignedInfo and every reference, HMAC and RSA signature methods.
//
// goxmldsig's signing and validation contexts handle enveloped RSA
// signatures only, so this package builds on its canonicalizer (through
// wire/c14n) and does the rest itself. Verification is strict: algorithms
// from an allowlist, exactly one element per reference, no duplicate Ids
// anywhere in the document, no HMACOutputLength, constant-time
// comparisons, and the verified nodes are returned so the caller reads
// exactly what was signed.
package dsig
