package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CoreWCF vector (testdata/vectors/README.md): a WCF client and CoreWCF
// agreed on this key from these entropies.
const (
	wcfClientEntropy = "1TmBzNeSMhkxqHU+yWuwplJDS7NejEdnFlgRbGPyAOI="
	wcfServerEntropy = "X10bPPRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM="
	wcfKey           = "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8="
)

func TestCombinedMatchesWCF(t *testing.T) {
	client, server := b64(t, wcfClientEntropy), b64(t, wcfServerEntropy)
	got, err := Combined(client, server, 256)
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, wcfKey); !bytes.Equal(got, want) {
		t.Fatalf("combined key = %x, want %x", got, want)
	}
	swapped, _ := Combined(server, client, 256)
	if bytes.Equal(swapped, got) {
		t.Fatal("swapping secret and seed gave the same key")
	}
	short, _ := Combined(client, server, 128)
	if !bytes.Equal(short, got[:16]) {
		t.Fatalf("128-bit key is not the prefix of the 256-bit key")
	}
}

func TestCombinedRejects(t *testing.T) {
	tests := []struct {
		name           string
		client, server []byte
		bits           int
	}{
		{"no client entropy", nil, []byte{1}, 256},
		{"no server entropy", []byte{1}, nil, 256},
		{"key size not a multiple of 8", []byte{1}, []byte{1}, 255},
		{"key size too small", []byte{1}, []byte{1}, 64},
		{"key size absurd", []byte{1}, []byte{1}, 1 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := Combined(tc.client, tc.server, tc.bits); err == nil {
				t.Fatalf("Combined accepted it and returned %d bytes", len(k))
			}
		})
	}
}

func TestPSHA1Offsets(t *testing.T) {
	secret, seed := []byte("secret"), []byte("seed")
	whole := PSHA1(secret, seed, 0, 100)
	for _, c := range []struct{ off, n int }{{0, 1}, {19, 2}, {20, 20}, {37, 41}, {99, 1}} {
		if got := PSHA1(secret, seed, c.off, c.n); !bytes.Equal(got, whole[c.off:c.off+c.n]) {
			t.Errorf("PSHA1 at %d+%d differs from the stream", c.off, c.n)
		}
	}
}

// TestDeriveKnownAnswer is the DerivedKeyToken vector consistent with .NET
// (testdata/vectors: Mono's InMemorySymmetricSecurityKey test). Its nonce
// is 256 bytes, beyond what WCF accepts from a message, so the limit is
// raised explicitly.
func TestDeriveKnownAnswer(t *testing.T) {
	lim := WCFLimits
	lim.MaxNonceLen = 256
	d := Derivation{Nonce: make([]byte, 256), Length: 32}
	got, err := DeriveWithin(b64(t, "eX2EeE969RCv/5Lx8OIGLHtJrSD5PzVzO3tTy9JxU58="), d, lim)
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, "50UfLeg58TbfADujVeafUAS8typGX9LvqLOXezK/eJY="); !bytes.Equal(got, want) {
		t.Fatalf("derived = %x, want %x", got, want)
	}
	explicit := d
	explicit.Label = []byte(DefaultLabel)
	if again, _ := DeriveWithin(b64(t, "eX2EeE969RCv/5Lx8OIGLHtJrSD5PzVzO3tTy9JxU58="), explicit, lim); !bytes.Equal(again, got) {
		t.Fatal("an explicit default label derives a different key")
	}
	if _, err := Derive(b64(t, "eX2EeE969RCv/5Lx8OIGLHtJrSD5PzVzO3tTy9JxU58="), d); err == nil {
		t.Fatal("a 256-byte nonce passed WCF's limits")
	}
}

func TestDeriveGenerationAndOffset(t *testing.T) {
	base := []byte("0123456789abcdef0123456789abcdef")
	nonce := []byte("nonce-nonce-1234")
	byOffset, err := Derive(base, Derivation{Nonce: nonce, Offset: 48, Length: 16})
	if err != nil {
		t.Fatal(err)
	}
	byGen, err := Derive(base, Derivation{Nonce: nonce, Generation: 3, HasGeneration: true, Length: 16})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(byOffset, byGen) {
		t.Fatal("generation 3 × 16 bytes differs from offset 48")
	}
	def, _ := Derive(base, Derivation{Nonce: nonce})
	if len(def) != DefaultLength {
		t.Fatalf("absent Length gave %d bytes, want %d", len(def), DefaultLength)
	}
}

func TestDeriveBounds(t *testing.T) {
	base := []byte("k")
	nonce := make([]byte, 16)
	tests := []struct {
		name  string
		d     Derivation
		field string // BoundError.Field, or "" for a plain error
	}{
		{"no nonce", Derivation{}, ""},
		{"nonce too long", Derivation{Nonce: make([]byte, 129)}, "Nonce length"},
		{"label too long", Derivation{Nonce: nonce, Label: make([]byte, 129)}, "Label length"},
		{"negative length", Derivation{Nonce: nonce, Length: -1}, "Length"},
		{"length too large", Derivation{Nonce: nonce, Length: 1 << 20}, "Length"},
		{"length of one byte (guessable)", Derivation{Nonce: nonce, Length: 1}, "Length"},
		{"length under 16 bytes", Derivation{Nonce: nonce, Length: 15}, "Length"},
		{"negative offset", Derivation{Nonce: nonce, Offset: -1}, "Offset"},
		{"offset too large", Derivation{Nonce: nonce, Offset: 65}, "Offset"},
		{"offset and generation", Derivation{Nonce: nonce, Offset: 1, Generation: 1, HasGeneration: true}, ""},
		{"negative generation", Derivation{Nonce: nonce, Generation: -1, HasGeneration: true}, "Generation"},
		{"huge generation", Derivation{Nonce: nonce, Generation: 1 << 40, HasGeneration: true, Length: 32}, "Generation"},
		{"generation × length too large", Derivation{Nonce: nonce, Generation: 3, HasGeneration: true, Length: 32}, "Generation × Length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Derive(base, tc.d)
			if err == nil {
				t.Fatal("accepted")
			}
			var be *BoundError
			if tc.field != "" && (!errors.As(err, &be) || be.Field != tc.field) {
				t.Fatalf("err = %v, want BoundError on %s", err, tc.field)
			}
		})
	}
}

// TestWSS4JDerivedKeyLength derives the keys of the WSS4J vectors (secret
// 0x00..0x1f, Length 24); the signatures they make are checked in
// wire/wssc (TestWSS4JDerivedKeys).
func TestWSS4JDerivedKeyLength(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	seen := map[string]bool{}
	for _, n := range []string{"+DTt5Y3q9+gKKgisBH0AKw==", "VDGic9GzijqGHoRIBlOaLw==", "12TvlJbJlQLNtF12AUHtJg=="} {
		k, err := Derive(secret, Derivation{Nonce: b64(t, n), Length: 24})
		if err != nil || len(k) != 24 || seen[string(k)] {
			t.Fatalf("nonce %s: key %x, err %v", n, k, err)
		}
		seen[string(k)] = true
	}
}
