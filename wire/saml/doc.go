// Package saml builds, reads and checks the SAML assertions scproxy uses as
// issued tokens: the holder-of-key assertion an STS issues with a proof
// key, which a client presents, unread, to bootstrap a security context,
// and which a relying party verifies.
//
// It implements:
//
//   - SAML 2.0 core (Assertions and Protocols, OASIS Standard 15 March
//     2005) §2.2.3-2.2.5 (Issuer, NameID), §2.3.3 (Assertion: Version, ID,
//     IssueInstant, the order of its children), §2.4.1 (Subject and
//     SubjectConfirmation, with KeyInfoConfirmationDataType), §2.5.1
//     (Conditions NotBefore/NotOnOrAfter and AudienceRestriction, each
//     restriction satisfied by one of its Audiences), §2.7.2
//     (AuthnStatement), and §5.4 (the enveloped signature: exclusive c14n,
//     one Reference to the assertion's ID, the Signature right after
//     Issuer); the holder-of-key confirmation method of SAML 2.0 profiles
//     §3.1. SAML 1.1 assertions (AssertionID, the Issuer attribute) are read
//     for their ID and validity only.
//   - The WSS SAML Token Profile 1.1 §3.3-3.4: the token types SAMLV2.0 and
//     SAMLV1.1, and the SecurityTokenReference a signature's KeyInfo uses
//     to name an assertion: a KeyIdentifier of ValueType SAMLID (SAML 2.0)
//     or SAMLAssertionID (SAML 1.1) whose text is the assertion's ID, with
//     the wsse11:TokenType attribute, as WCF writes it.
//   - XML Encryption 1.0 §3.5.1 (EncryptedKey) and §5.4.2 (RSA-OAEP with
//     MGF1 and SHA-1, the only key transport accepted): the proof key
//     encrypted to the relying party's certificate, named by its SHA-1
//     thumbprint (X.509 Token Profile 1.1 §3.2).
//   - WS-Trust 1.3 §4.1-4.4 (and the February 2005 draft) as far as issuing
//     such a token goes: the Issue request with TokenType, KeyType
//     SymmetricKey, KeySize, Entropy and AppliesTo, and the response with
//     the assertion kept byte for byte, the proof token (BinarySecret or
//     ComputedKey) and the Lifetime.
//
// Untrusted input is read the way the rest of scproxy reads it: namespace
// URIs, never prefixes; exactly-one lookups; and nothing in an assertion is
// trusted before its signature has been checked, on the very element that
// is then read.
package saml
