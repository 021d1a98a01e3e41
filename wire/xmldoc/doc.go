// Package xmldoc parses untrusted XML into an etree tree under explicit
// limits and offers the namespace-aware lookups the rest of scproxy uses.
//
// Elements are found by expanded name (namespace URI and local name, as
// "Namespaces in XML 1.0" §3 defines them), never by prefix; lookups that
// expect one element fail on zero or several, so that a second, attacker
// supplied copy of a signed element cannot be picked up silently.
package xmldoc
