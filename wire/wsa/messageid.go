package wsa

import (
	"encoding/hex"
	"fmt"
	"io"
)

// NewMessageID returns a fresh message identifier, urn:uuid: followed by a
// version 4 UUID (RFC 9562 §5.4) built from 16 bytes of r, the form WCF
// writes. r is passed in so that tests reproduce messages byte for byte;
// production callers pass crypto/rand's Reader. The identifier is not a
// secret: it only has to be unique, since replies are correlated by it.
func NewMessageID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("wsa: reading message id randomness: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	// Written by hand: the fmt version costs six allocations per message.
	out := make([]byte, 0, len("urn:uuid:")+36)
	out = append(out, "urn:uuid:"...)
	for i, part := range [][]byte{b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]} {
		if i > 0 {
			out = append(out, '-')
		}
		out = hex.AppendEncode(out, part)
	}
	return string(out), nil
}
