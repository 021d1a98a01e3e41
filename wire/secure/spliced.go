package secure

import (
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// SplicedContext returns m, a message read by splice, secured with context
// c, and leaves m unchanged so that it can be secured again for a resend.
//
// h is c's precomputed header for m's SOAP version: the message costs two
// hashes and a copy. When NewContextHeader could not build one (a token
// whose bytes defeat the template), h is nil and a copy of m, read again
// under lim, is secured the long way, by AddContext.
func SplicedContext(m *splice.Message, h *ContextHeader, c Context, o ContextOptions, lim xmldoc.Limits) ([]byte, error) {
	if h == nil {
		cp, err := splice.Read(m.Bytes(nil), splice.Options{Limits: lim})
		if err != nil {
			return nil, err
		}
		tokens, err := AddContext(cp.Env, c, o)
		if err != nil {
			return nil, err
		}
		return cp.Bytes(tokens), nil
	}
	block, err := h.AppendTo(make([]byte, 0, 4096), o.Now()) // on the stack: the header with a DerivedKeyToken exceeds 2 KB
	if err != nil {
		return nil, err
	}
	return m.BytesWith(nil, block), nil
}
