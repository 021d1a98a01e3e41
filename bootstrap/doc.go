// Package bootstrap holds the credentials that authenticate the request
// establishing a security context, beyond the plain user name and password
// of session.Username: an X.509 certificate, an issued (SAML) token with
// its proof key, and a Kerberos ticket. Each implements session.Bootstrap;
// none of them puts a secret (password, private key, proof key, ticket) in
// a String, an error or a log value.
package bootstrap
