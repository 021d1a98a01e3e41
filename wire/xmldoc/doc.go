// Package xmldoc parses untrusted XML into an etree tree under explicit
// limits and offers the namespace-aware lookups the rest of scproxy uses.
//
// Elements are found by expanded name (namespace URI and local name, as
// "Namespaces in XML 1.0" §3 defines them), never by prefix; lookups that
// expect one element fail on zero or several, so that a second, attacker
// supplied copy of a signed element cannot be picked up silently.
//
// Documents are UTF-8, optionally after a byte order mark (XML 1.0
// §4.3.3); every offset the parser reports indexes the input as given,
// mark included. UTF-16 is refused by name (detected as XML 1.0 appendix
// F describes), as are processing instructions when the caller speaks
// SOAP (SOAP 1.1 §3, SOAP 1.2 part 1 §5).
//
// Trees are written back with canonical escaping (Write, Serialize), the
// bytes etree writes with its canonical settings.
package xmldoc
