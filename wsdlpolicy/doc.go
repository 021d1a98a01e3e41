// Package wsdlpolicy reads a service's WSDL 1.1 description and the
// WS-Policy attached to it, and says which scproxy settings reach each of
// its endpoints: SOAP and WS-Addressing versions, WS-SecureConversation
// version, the profile (SC over TLS or message security), the bootstrap,
// the algorithm suite, derived keys, cancellation and the service
// certificate, or exactly what scproxy cannot do and the change to the
// service that makes it reachable.
//
// It implements the parts of these specifications a client needs to read a
// published policy:
//
//   - WSDL 1.1 §2 (definitions, import, binding, service, port) and its
//     SOAP 1.1 (§3) and SOAP 1.2 binding extensions;
//   - WS-Policy 1.2 and 1.5 (both namespaces): Policy, All, ExactlyOne,
//     PolicyReference by URI fragment (wsu:Id) or by Name, §4.3
//     normalisation into alternatives, attachment to wsdl:binding and
//     wsdl:port (WS-PolicyAttachment §4.1);
//   - WS-SecurityPolicy 2005/07 and 1.2/1.3 (namespaces
//     .../ws/2005/07/securitypolicy and .../ws-sx/ws-securitypolicy/200702):
//     TransportBinding, SymmetricBinding, AsymmetricBinding, the supporting
//     token assertions, SecureConversationToken with RequireDerivedKeys,
//     MustNotSendCancel and BootstrapPolicy, AlgorithmSuite, Trust10/Trust13
//     entropy, and the Microsoft assertions of WCF (SslContextToken, its
//     MustNotSendCancel);
//   - WS-Addressing Metadata (UsingAddressing, Addressing) and WCF's
//     endpoint identity (wsa:EndpointReference/Identity/KeyInfo/X509Data).
//
// Documents are fetched (http and https only, no credential sent, redirects
// bounded) or read from files, each under a size cap, with a bound on how
// many are read and how deep imports go; every document is parsed as
// untrusted XML (wire/xmldoc). Elements are matched by namespace URI and
// local name, never by prefix. XML Schema imports are not followed: no
// policy lives there.
package wsdlpolicy
