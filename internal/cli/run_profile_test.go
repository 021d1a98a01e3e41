package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
)

// TestRunProfile: --profile picks how messages are secured; x509 needs a
// certificate (set by the certificate flags) and no bootstrap credential,
// and an unknown profile is a usage error listing the choices.
func TestRunProfile(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    outbound.Profile
		wantErr string // "" when the proxy starts
	}{
		{name: "default is sc-tls", args: cmdline(upstream, userPW), want: outbound.ProfileSCOverTLS},
		{name: "sc-tls named", args: cmdline(upstream, userPW, []string{"--profile", "sc-tls"}), want: outbound.ProfileSCOverTLS},
		{name: "x509 without a certificate", args: cmdline(upstream, []string{"--profile", "x509"}), wantErr: "no certificate"},
		{name: "x509 asks for no username", args: cmdline(upstream, userPW, []string{"--profile", "x509"}), wantErr: "--cert-file"},
		{name: "unknown profile", args: cmdline(upstream, userPW, []string{"--profile", "tls"}), wantErr: "sc-tls, x509 or message"},
		{name: "plain forwarding ignores the profile", args: cmdline(upstream, []string{"--security", "none", "--profile", "x509"}), want: outbound.ProfileX509},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, baseEnv, tt.args...)
			if tt.wantErr != "" {
				var ue *UsageError
				if r.runErr == nil || !errors.As(r.runErr, &ue) || !strings.Contains(r.runErr.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a usage error mentioning %q", r.runErr, tt.wantErr)
				}
				if strings.Contains(r.runErr.Error(), "username") {
					t.Errorf("error %q asks for a username the profile does not use", r.runErr)
				}
				return
			}
			if r.runErr != nil {
				t.Fatalf("run: %v", r.runErr)
			}
			if r.cfg.Profile != tt.want {
				t.Errorf("profile %v, want %v", r.cfg.Profile, tt.want)
			}
		})
	}
}
