package testkit

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"sync"
)

// Rand returns a deterministic stream of bytes for a test's Rand (nonces,
// entropy, identifiers): SHA-256 of seed and a counter, block after
// block, so that signed output is the same byte for byte on every run.
// It is safe for concurrent use.
func Rand(seed string) io.Reader { return &detRand{seed: seed} }

type detRand struct {
	mu   sync.Mutex
	seed string
	ctr  uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < len(p) {
		h := sha256.New()
		io.WriteString(h, r.seed)
		binary.Write(h, binary.BigEndian, r.ctr)
		r.ctr++
		r.buf = h.Sum(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
