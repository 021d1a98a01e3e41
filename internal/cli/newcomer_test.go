package cli

import (
	"errors"
	"strings"
	"testing"
)

// TestUpstreamWithoutScheme (what a newcomer hit): an upstream written
// without https:// is a usage error that says to add it, whatever Go's URL
// parser made of it, and never repeats the URL (it may hold a password).
func TestUpstreamWithoutScheme(t *testing.T) {
	for _, raw := range []string{
		"svc.example.com:443/Orders.svc", // Go: "first path segment in URL cannot contain colon"
		"svc.example.com/Orders.svc",
		"localhost:8443/Orders.svc", // Go: scheme "localhost"
		"alice:" + canary + "@svc.example.com/Orders.svc",
	} {
		r := runCmd(t, baseEnv, cmdline(userPW, []string{"--upstream", raw})...)
		var ue *UsageError
		if !errors.As(r.runErr, &ue) || !strings.Contains(r.runErr.Error(), "add https://") {
			t.Errorf("%q: error %v, want a usage error saying add https://", raw, r.runErr)
			continue
		}
		if strings.Contains(r.runErr.Error(), "svc.example.com") || strings.Contains(r.runErr.Error(), canary) {
			t.Errorf("%q: error %q repeats the URL", raw, r.runErr)
		}
	}
}
