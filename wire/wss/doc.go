// Package wss builds and parses the WS-Security header parts scproxy puts
// around its messages: the wsse:Security header itself, wsu:Id attributes,
// Timestamps, UsernameTokens, X.509 BinarySecurityTokens and
// SecurityTokenReferences.
//
// It implements, from OASIS Web Services Security: SOAP Message Security
// 1.1, §4 (wsu:Id references), §5 (the Security header), §6 (security
// tokens: UsernameToken and BinarySecurityToken), §7 (token references:
// direct references and KeyIdentifiers), §8 (the SecurityTokenReference a
// signature's KeyInfo carries) and §10 (Timestamp and its freshness); from
// the UsernameToken Profile 1.1, §3.1 (password text and digest, Nonce,
// Created); and from the X.509 Certificate Token Profile 1.1, §3.1 (the
// X509v3 BinarySecurityToken).
//
// Every builder declares the namespaces it uses on the element it returns,
// so the element can be inserted anywhere in a tree; time and randomness are
// passed in, so output is reproducible byte for byte. Parsers match
// namespace URIs, never prefixes, and insist on exactly one occurrence of
// every security-relevant child.
package wss
