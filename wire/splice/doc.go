// Package splice reads a SOAP envelope only as far as the start of its Body
// and writes it back with a changed Header around the Body's original bytes.
//
// In the SC-over-TLS profile the Body is neither signed nor read, so the
// cost of securing a message must not grow with its size: the Header and
// the Envelope and Body start tags are parsed (under the usual limits) and
// re-serialised, and the Body's content is copied as received. The end of
// the Body is found by reading the closing tags backwards from the end of
// the document; whatever lies between is the application's and travels
// untouched. Converting between SOAP 1.1 and 1.2 renames only the envelope's
// own elements, under a fresh prefix, so content inside the Body that uses
// the old envelope prefix keeps its meaning.
//
// The Body's content and an added header block are written at their
// elements' places in the tree, never at a placeholder searched for in
// the output, which the application's comments could imitate. SOAP's ban
// on processing instructions (SOAP 1.1 §3, SOAP 1.2 part 1 §5) covers the
// unread Body too: it is scanned for "<?" outside comments and CDATA
// sections, a scan that costs little beside the copy.
package splice
