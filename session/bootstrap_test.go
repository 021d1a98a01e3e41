package session_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/session"
)

// The password of a Username reaches no formatted or logged output.
func TestUsernameNeverPrintsPassword(t *testing.T) {
	const canary = "canary-S3cret-0b9d"
	u := session.Username{User: "alice", Password: creds.NewSecret(canary)}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs = append(outs, fmt.Sprintf(f, u), fmt.Sprintf(f, &u))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		l := slog.New(h(&b))
		l.Info("bootstrap", "value", u, "pointer", &u, "as any", any(u))
		outs = append(outs, b.String())
	}
	for _, o := range outs {
		if strings.Contains(o, canary) {
			t.Fatalf("password printed: %s", o)
		}
		if !strings.Contains(o, "alice") {
			t.Fatalf("user name missing: %s", o)
		}
	}
}
