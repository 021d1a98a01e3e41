package creds

import (
	"context"
	"errors"
	"fmt"
)

// Source reads credentials by name. The keyring and the systemd
// credentials directory hold several; a file or a variable holds one, and
// its name is where it is.
type Source interface {
	// Get returns the credential called name.
	Get(ctx context.Context, name string) (Credential, error)
	// Describe names the source and the credential for messages ("keyring
	// entry orders", "file /etc/scproxy/pw"); it never includes a secret.
	Describe(name string) string
}

// Store is a Source that can also keep and forget credentials.
type Store interface {
	Source
	Set(ctx context.Context, name string, c Credential) error
	Delete(ctx context.Context, name string) error
}

// NotFoundError says a source has no credential by that name.
type NotFoundError struct {
	// Where is the source's description of the credential.
	Where string
	// Hint says how to create it.
	Hint string
}

func (e *NotFoundError) Error() string {
	if e.Hint == "" {
		return e.Where + ": not found"
	}
	return e.Where + ": not found; " + e.Hint
}

// UnavailableError says a source cannot be used at all on this machine
// or in this session (no keyring, no session bus, no credentials
// directory); Fix says what to do instead.
type UnavailableError struct {
	Source string
	Reason string
	Fix    string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s unavailable: %s; %s", e.Source, e.Reason, e.Fix)
}

// ErrEmpty is returned for a credential whose secret is empty: an empty
// password is a mistake, not a credential.
var ErrEmpty = errors.New("the secret is empty")

// IsNotFound reports whether err says a credential does not exist.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// IsUnavailable reports whether err says a source cannot be used.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}
