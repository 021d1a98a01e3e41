package keys

import "errors"

// DefaultLabel is the label of a DerivedKeyToken without a Label element
// (WS-SecureConversation 1.3 §7).
const DefaultLabel = "WS-SecureConversationWS-SecureConversation"

// DefaultLength applies when a DerivedKeyToken has no Length.
const DefaultLength = 32

// Limits bounds derivation parameters taken from a message.
type Limits struct {
	MaxOffset   int // bytes, also bounds Generation × Length
	MaxLabelLen int
	MaxNonceLen int
	MaxLength   int
	// MinLength is the shortest key a peer may ask for: a key of a few
	// bytes would let anyone who knows a context's Identifier (sent in
	// clear) sign as its holder after a few hundred guesses.
	MinLength int
}

// WCFLimits follow WCF's WSSecurityTokenSerializer (offset 64 bytes, label
// and nonce 128 bytes), so a peer within them interoperates with WCF. WCF
// writes a 16-byte nonce and derives 24 (signing) or 32 (encryption)
// bytes; MaxLength leaves room for any real key while bounding the work.
// MinLength is 16 bytes: the shortest key any algorithm suite derives
// (Basic128's), and as strong as the weakest suite's encryption.
var WCFLimits = Limits{MaxOffset: 64, MaxLabelLen: 128, MaxNonceLen: 128, MaxLength: 128, MinLength: 16}

// Derivation holds the parameters of one derived key.
type Derivation struct {
	Label         []byte // nil means DefaultLabel
	Nonce         []byte
	Offset        int
	Generation    int
	HasGeneration bool // Generation was given (Offset must then be 0)
	Length        int  // 0 means DefaultLength
}

// Check validates every parameter against WCFLimits.
func (d Derivation) Check() error { return d.CheckWithin(WCFLimits) }

// CheckWithin validates every parameter against lim; derivation calls it
// before any hashing.
func (d Derivation) CheckWithin(lim Limits) error {
	switch {
	case len(d.Nonce) == 0:
		return errors.New("keys: derived key has no nonce")
	case len(d.Nonce) > lim.MaxNonceLen:
		return &BoundError{Field: "Nonce length", Value: len(d.Nonce), Min: 1, Max: lim.MaxNonceLen}
	case len(d.Label) > lim.MaxLabelLen:
		return &BoundError{Field: "Label length", Value: len(d.Label), Min: 0, Max: lim.MaxLabelLen}
	case d.Length < 0 || d.Length > lim.MaxLength || (d.Length != 0 && d.Length < lim.MinLength):
		return &BoundError{Field: "Length", Value: d.Length, Min: max(lim.MinLength, 1), Max: lim.MaxLength}
	case d.Offset < 0 || d.Offset > lim.MaxOffset:
		return &BoundError{Field: "Offset", Value: d.Offset, Min: 0, Max: lim.MaxOffset}
	case d.HasGeneration && d.Offset != 0:
		return errors.New("keys: derived key has both Offset and Generation")
	case d.Generation < 0 || d.Generation > lim.MaxOffset:
		// Bounding Generation first keeps Generation × Length from overflowing.
		return &BoundError{Field: "Generation", Value: d.Generation, Min: 0, Max: lim.MaxOffset}
	}
	if off := d.start(); off > lim.MaxOffset {
		return &BoundError{Field: "Generation × Length", Value: off, Min: 0, Max: lim.MaxOffset}
	}
	return nil
}

func (d Derivation) length() int {
	if d.Length == 0 {
		return DefaultLength
	}
	return d.Length
}

// start is the offset into the P_SHA-1 output where the key begins.
func (d Derivation) start() int {
	if d.HasGeneration {
		return d.Generation * d.length()
	}
	return d.Offset
}

// Derive returns the derived key P_SHA-1(base, label + nonce) at the
// offset and length d describes, within WCFLimits.
func Derive(base []byte, d Derivation) ([]byte, error) { return DeriveWithin(base, d, WCFLimits) }

// DeriveWithin is Derive with explicit limits.
func DeriveWithin(base []byte, d Derivation, lim Limits) ([]byte, error) {
	if err := d.CheckWithin(lim); err != nil {
		return nil, err
	}
	if len(base) == 0 {
		return nil, errors.New("keys: empty base key")
	}
	label := d.Label
	if label == nil {
		label = []byte(DefaultLabel)
	}
	seed := append(append(make([]byte, 0, len(label)+len(d.Nonce)), label...), d.Nonce...)
	return PSHA1(base, seed, d.start(), d.length()), nil
}
