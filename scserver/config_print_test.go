package scserver

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A Config printed any way shows the user names, never the passwords.
func TestConfigPrintsNoPassword(t *testing.T) {
	const pw = "Printed-Pw-Canary"
	c := Config{Users: map[string]string{"alice": pw, "bob": pw + "2"}}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", c)
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c) + logs.String()
	if strings.Contains(out, pw) {
		t.Fatalf("a password prints: %s", out)
	}
	if !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Fatalf("the users are missing: %s", out)
	}
}
