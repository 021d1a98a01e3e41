package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// KeyringService is the service name every scproxy entry is filed under;
// the entry's user attribute is the credential's name. On Linux:
//
//	secret-tool lookup service scproxy username NAME
const KeyringService = "scproxy"

// DefaultKeyringTimeout bounds each keyring call. A locked keyring may
// wait for a password prompt nobody will answer; an agent must not hang
// on it.
const DefaultKeyringTimeout = 5 * time.Second

// keyringFix is the advice an unavailable keyring error gives.
const keyringFix = "read the secret from a file (mode 0600), an environment variable or a systemd credential instead, " +
	"or run scproxy in a desktop session with a Secret Service (gnome-keyring, KeePassXC)"

// Keyring is the OS keyring: Secret Service on Linux, Keychain on macOS,
// Credential Manager on Windows.
type Keyring struct {
	// Service is the service name; empty means KeyringService.
	Service string
	// Timeout bounds each call; zero means DefaultKeyringTimeout.
	Timeout time.Duration
}

// entry is how a credential is stored: the keyring holds one string per
// entry, so the user name travels with the secret. An entry written by
// another tool (secret-tool store) that is not this JSON is read as a
// bare secret.
type entry struct {
	Username string `json:"username,omitempty"`
	Secret   string `json:"secret"`
}

// Describe names the keyring entry.
func (k *Keyring) Describe(name string) string { return fmt.Sprintf("keyring entry %q", name) }

func (k *Keyring) service() string {
	if k.Service == "" {
		return KeyringService
	}
	return k.Service
}

// Get reads the entry called name.
func (k *Keyring) Get(ctx context.Context, name string) (Credential, error) {
	if err := checkName(name); err != nil {
		return Credential{}, err
	}
	var raw string
	err := k.call(ctx, name, func() (err error) {
		raw, err = keyring.Get(k.service(), name)
		return err
	})
	if err != nil {
		return Credential{}, err
	}
	var e entry
	if json.Unmarshal([]byte(raw), &e) != nil || e.Secret == "" {
		e = entry{Secret: raw}
	}
	if e.Secret == "" {
		return Credential{}, fmt.Errorf("%s: %w", k.Describe(name), ErrEmpty)
	}
	return Credential{Username: e.Username, Secret: NewSecret(e.Secret)}, nil
}

// Set stores c under name, replacing what was there.
func (k *Keyring) Set(ctx context.Context, name string, c Credential) error {
	if err := checkName(name); err != nil {
		return err
	}
	if c.Secret.IsZero() {
		return fmt.Errorf("%s: %w", k.Describe(name), ErrEmpty)
	}
	b, err := json.Marshal(entry{Username: c.Username, Secret: c.Secret.Reveal()})
	if err != nil {
		return fmt.Errorf("%s: cannot encode the entry", k.Describe(name))
	}
	return k.call(ctx, name, func() error { return keyring.Set(k.service(), name, string(b)) })
}

// Delete removes the entry called name.
func (k *Keyring) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return k.call(ctx, name, func() error { return keyring.Delete(k.service(), name) })
}

// call runs one keyring operation after checking that a keyring can
// answer, bounded by the timeout and ctx. An operation that overruns is
// abandoned, not interrupted: go-keyring cannot be cancelled, so its
// goroutine ends when the keyring finally answers.
func (k *Keyring) call(ctx context.Context, name string, op func() error) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := checkKeyring(ctx); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return k.mapError(name, err)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &UnavailableError{Source: "keyring", Reason: fmt.Sprintf("no answer within %s (a locked keyring waiting for a prompt?)", timeout), Fix: keyringFix}
		}
		return ctx.Err()
	}
}

func (k *Keyring) mapError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return &NotFoundError{Where: k.Describe(name), Hint: "store it with: scproxy creds set " + name}
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return &UnavailableError{Source: "keyring", Reason: "no keyring on this platform", Fix: keyringFix}
	}
	return fmt.Errorf("%s: %w", k.Describe(name), err)
}

// checkName refuses names a keyring or a shell would mangle.
func checkName(name string) error {
	if name == "" || len(name) > 200 {
		return errors.New("a credential name must have 1 to 200 characters")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("credential name %q: control characters are not allowed", name)
		}
	}
	return nil
}
