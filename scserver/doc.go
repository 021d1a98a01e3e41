// Package scserver is a WS-SecureConversation service: a security token
// service that issues, renews and cancels security context tokens, and an
// echo service that checks the security of every application message. It
// backs `scproxy demo`, the project's end-to-end tests and
// `scproxy demo-server`, so that a user can try scproxy without a WCF
// service at hand.
//
// It is written from the service's side of the specifications and of WCF's
// observable behaviour (the CoreWCF capture in testdata/vectors), not from
// scproxy's client code, so that a misunderstanding shared by both sides
// cannot hide:
//
//   - WS-Trust 1.3 §4.1 Issue, §5 Renew, §6 Cancel, and the February 2005
//     drafts WCF's wsHttpBinding speaks; §4.4 entropy (combined, client
//     only, server only) and KeySize; replies shaped like WCF's (attached
//     and unattached references, the 1.3 collection, Instance on renewal,
//     an optional dnse:Cookie holding the sealed session state). A Renew
//     is checked as a WCF server checks it (WS-SC 1.3 §5): the bootstrap
//     credential as for an Issue, the endorsing signature of the context
//     its RenewTarget names, and the principal the context was issued to.
//   - WS-SecureConversation 1.3 §3 (SecurityContextToken), §7 (signatures
//     through a DerivedKeyToken, as WSS4J makes them, or with the context
//     key directly, as WCF's SecureConversation over TLS does) and §8
//     (BadContextToken, RenewNeeded, UnsupportedContextToken).
//   - WS-Security 1.1 §§5-10 and §12: one Security header, a fresh
//     Timestamp covered by the signature (judged as WCF does: Created no
//     older than Config.TimestampValidity plus the skew, whatever Expires
//     says, so a captured message cannot be replayed for the life of its
//     context), and the fault codes
//     InvalidSecurity, FailedCheck, FailedAuthentication,
//     InvalidSecurityToken, UnsupportedAlgorithm and MessageExpired, each
//     with a reason naming what failed; the UsernameToken Profile 1.1 and
//     X.509 Token Profile 1.1 for the bootstrap.
//   - SOAP 1.1 and 1.2 and WS-Addressing 2004/08 and 1.0: dispatch on the
//     WS-Addressing Action, else the SOAPAction header or the action
//     parameter of the content type; replies in the request's versions,
//     with RelatesTo naming the request's MessageID.
//   - Issued tokens (Config.IssueTokens, Config.TrustedIssuers): on the
//     same address as everything else, an Issue request with the action
//     <trust>/RST/Issue and the SAML 2.0 TokenType (WS-Trust 1.3 §4,
//     authenticated with a UsernameToken) is answered by a token service
//     with a holder-of-key assertion (SAML 2.0 core §2, SAML Token Profile
//     1.1) signed by the server's own issuer key, its proof key encrypted
//     to that key's certificate (XML Encryption §5.4.2); an Issue request
//     for a context may then be bootstrapped with such an assertion and a
//     proof-key signature, checked as wire/saml's Verify describes.
//   - The message-security profile (Config.Message; WCF's wsHttpBinding
//     in Message mode): WS-SecurityPolicy 1.2 §7.3 symmetric binding with
//     the context as protection token and, for the Issue, the bootstraps
//     AnonymousForCertificate, UserNameForCertificate (the UsernameToken
//     checked against Users), MutualCertificate and MutualCertificate10
//     (§7.5 asymmetric binding; the client certificate chained to
//     TrustedCAs). Every request is opened by wire/msgsec's server role
//     (signature over Timestamp, Body and addressing headers verified,
//     Body decrypted) before anything in it is used; the context is
//     found by its wsc:Identifier, with the key a renewal replaced during
//     the rollover period; the answer is signed and encrypted with the
//     request's own token (WS-Security 1.1 §8.5 SignatureConfirmation and
//     §7.3 EncryptedKeySHA1 on the bootstrap leg). Faults go unprotected,
//     as WCF sends them. MustNotSendCancel (NoCancel) issues cookie
//     contexts and refuses Cancel.
//
// Beyond the specifications it offers what a test or a demo needs: a
// Script that makes the service ask for renewal after N messages or a key
// age, forget every context (what an IIS recycle does), fail requests with
// an HTTP status or answer slowly; counters read with Stats; and one
// structured log line per request, which never carries key material or
// passwords. Its memory stays bounded however long it runs: contexts, and
// their counters, are dropped some minutes after they expire, and
// identifiers made up by unauthenticated senders are only counted.
package scserver
