package cli

import (
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
)

// TestTokenSTSPlainHTTPNeedsTheFlag: --token-sts http:// would send the
// password in clear, so it takes --allow-plain-http like an http://
// upstream of secured traffic; the message names both flags.
func TestTokenSTSPlainHTTPNeedsTheFlag(t *testing.T) {
	env := map[string]string{"PW": canary}
	sts := []string{"--bootstrap", "issued-token", "--token-sts", "http://sts.example.com/Token.svc", "--username", "alice", "--password-env", "PW"}
	r := runCmd(t, env, cmdline(upstream, sts)...)
	if r.runErr == nil {
		t.Fatal("an http:// token STS was accepted without --allow-plain-http")
	}
	if msg := r.runErr.Error(); !strings.Contains(msg, "--token-sts http://sts.example.com/Token.svc") || !strings.Contains(msg, "(--allow-plain-http allows it)") || strings.Contains(msg, canary) {
		t.Fatalf("message %q: want --token-sts and --allow-plain-http named, never the password", msg)
	}
	cfg, _ := mustConfig(t, env, cmdline(upstream, sts, []string{"--allow-plain-http"})...)
	if _, ok := cfg.Bootstrap.(*bootstrap.IssuedToken); !ok {
		t.Fatalf("bootstrap %v", cfg.Bootstrap)
	}
}
