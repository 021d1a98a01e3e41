// Package bootstrap holds the credentials that authenticate the request
// establishing a security context, beyond the plain user name and password
// of session.Username: an X.509 certificate, an issued (SAML) token with
// its proof key, and a Kerberos ticket. Each implements session.Bootstrap;
// none of them puts a secret (password, private key, proof key, ticket) in
// a String, an error or a log value.
//
// Message is the bootstrap of the message-security profile, where no TLS
// protects the establishment: it also implements
// session.MessageProtection, protecting the Issue with one of WCF's
// bootstrap bindings (AnonymousForCertificate, UserNameForCertificate,
// MutualCertificate: WS-SecurityPolicy 1.2 §7.3 symmetric binding with a
// key encrypted for the service's certificate; MutualCertificate10: §7.5
// asymmetric binding), SignatureConfirmation (WS-Security 1.1 §8.5)
// required of the reply, and Renew and Cancel with the context itself
// (WS-SecureConversation 1.3 §7 derived keys), through wire/msgsec.
package bootstrap
