package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canary = "Canary-Secret-7f3a"

func TestFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string
	}{
		{"owner only", write("ok", canary, 0o600), canary, ""},
		{"trailing newline dropped", write("nl", canary+"\n", 0o400), canary, ""},
		{"trailing CRLF dropped", write("crlf", canary+"\r\n", 0o600), canary, ""},
		{"inner newline kept", write("inner", "a\nb\n", 0o600), "a\nb", ""},
		{"group readable", write("group", canary, 0o640), "", "mode 0640); run chmod 600"},
		{"world readable", write("world", canary, 0o604), "", "open to group or others"},
		{"empty", write("empty", "\n", 0o600), "", "the secret is empty"},
		{"too large", write("large", strings.Repeat("x", maxSecretFile+1), 0o600), "", "not a secret"},
		{"missing", filepath.Join(dir, "nope"), "", "no such file"},
		{"directory", dir, "", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := File{}.Get(context.Background(), tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), canary) {
					t.Fatalf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil || c.Secret.Reveal() != tt.want {
				t.Fatalf("got %q, %v", c.Secret.Reveal(), err)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	env := Env{Getenv: func(k string) string {
		if k == "SVC_PW" {
			return canary
		}
		return ""
	}}
	c, err := env.Get(context.Background(), "SVC_PW")
	if err != nil || c.Secret.Reveal() != canary {
		t.Fatalf("got %v", err)
	}
	if _, err := env.Get(context.Background(), "UNSET"); !IsNotFound(err) || !strings.Contains(err.Error(), "environment variable UNSET") {
		t.Fatalf("unset: %v", err)
	}
	// A password given where the variable's name belongs is refused and
	// not repeated.
	_, err = env.Get(context.Background(), canary+"!")
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("a secret as the name: %v", err)
	}
}

func TestSystemd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders"), []byte(canary+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	s := Systemd{Dir: dir}
	c, err := s.Get(context.Background(), "orders")
	if err != nil || c.Secret.Reveal() != canary {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Get(context.Background(), "billing"); !IsNotFound(err) || !strings.Contains(err.Error(), "LoadCredential=billing:") {
		t.Fatalf("missing: %v", err)
	}
	for _, name := range []string{"../orders", "a/b", "..", ""} {
		if _, err := s.Get(context.Background(), name); err == nil || IsNotFound(err) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	_, err = Systemd{}.Get(context.Background(), "orders")
	if !IsUnavailable(err) || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY is not set") {
		t.Fatalf("no directory: %v", err)
	}
}

// A Secret does not show through any printing path a log line, an error
// or a status document might take.
func anyOf(v any) any { return v }

func TestSecretNeverPrints(t *testing.T) {
	c := Credential{Username: "alice", Secret: NewSecret(canary)}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("c", "cred", c, "secret", c.Secret)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("c", "cred", c, "secret", c.Secret)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c.Secret, c.Secret),
		// Verbs that print a struct's fields without String; the values go
		// through any so that vet lets the test use them.
		fmt.Sprintf("%d %t %x %X %10.3s %v", anyOf(c), anyOf(c), anyOf(c), anyOf(c.Secret), anyOf(c), &c),
		fmt.Sprintf("%x %d %t", anyOf(c.Secret), anyOf(c.Secret), anyOf(c.Secret)),
		fmt.Errorf("wrapped: %v", c).Error(), logs.String(), string(js),
	}
	for _, out := range outs {
		if strings.Contains(out, canary) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if !strings.Contains(logs.String(), "alice") || !strings.Contains(string(js), redacted) {
		t.Fatalf("the user name or the redaction mark is missing: %s %s", logs.String(), js)
	}
	if !errors.Is(fmt.Errorf("x: %w", ErrEmpty), ErrEmpty) {
		t.Fatal("ErrEmpty does not wrap")
	}
}
