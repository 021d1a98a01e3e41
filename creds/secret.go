package creds

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// redacted is what every printed form of a Secret shows.
const redacted = "[redacted]"

// Secret is a password or key material. Only Reveal shows it.
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal returns the secret, for the one place that sends it.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

// String hides the secret.
func (s Secret) String() string { return redacted }

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return redacted }

// Format hides the secret from every fmt verb, those that bypass String
// (%d, %t, %x of the struct's field) included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue hides the secret from structured loggers.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText hides the secret from encoders (JSON included).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credential is what a source holds under a name: an optional user name
// and the secret.
type Credential struct {
	Username string
	Secret   Secret
}

// trimLineEnd drops one trailing line ending, which editors and `echo`
// add to a secret typed into a file or a pipe.
func trimLineEnd(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\n")
}
