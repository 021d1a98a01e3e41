// Package c14n produces Exclusive XML Canonicalization 1.0 (without
// comments) of an element in its document context, the form WS-Security
// digests and signs (WS-Security 1.1 §8.1 requires exclusive c14n;
// Exclusive XML Canonicalization 1.0 §3 defines InclusiveNamespaces).
//
// It is built on goxmldsig's canonicalizer and corrects, in one documented
// place, where that canonicalizer's output differs from libxml2's.
package c14n
