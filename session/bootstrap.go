package session

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
)

// Bootstrap authenticates the requests that establish and renew a
// context: it adds its credential to the Issue or Renew envelope and
// returns the bytes to send. Implementations must keep their secrets out
// of String and errors.
type Bootstrap interface {
	// Secure adds the credential to env's Header. A bootstrap that must
	// first fetch something (a ticket, an issued token) does so under ctx.
	// For a Renew, o.Endorse names the context to endorse the request
	// with: passing o unchanged to wire/secure's With* functions adds it.
	Secure(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, error)
	// Kind names the bootstrap for logs and status ("username").
	Kind() string
}

// Username bootstraps with a WS-Security UsernameToken over TLS.
type Username struct {
	User string
	// Password stays a creds.Secret until the UsernameToken is written.
	Password creds.Secret
	// Digest sends PasswordDigest instead of PasswordText.
	Digest bool
}

// Secure adds the UsernameToken and a Timestamp.
func (u Username) Secure(_ context.Context, env *soap.Envelope, o secure.Options) ([]byte, error) {
	return secure.WithUsername(env, u.User, u.Password.Reveal(), u.Digest, o)
}

// Kind returns "username".
func (u Username) Kind() string { return "username" }

// String names the user, never the password.
func (u Username) String() string { return fmt.Sprintf("username %q", u.User) }

// GoString is String, so %#v cannot print the password either.
func (u Username) GoString() string { return u.String() }

// LogValue is String, so that a structured logger (JSON included, which
// ignores String) cannot print the password either.
func (u Username) LogValue() slog.Value { return slog.StringValue(u.String()) }
