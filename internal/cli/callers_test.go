package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
)

// TestCallerFlags: --listen-unix with its mode and --allow-uid (uids,
// names, any) reach the configuration; what cannot work is refused
// naming the flag.
func TestCallerFlags(t *testing.T) {
	none := []string{"--security", "none"}
	cfg, _ := mustConfig(t, nil, cmdline(upstream, none, []string{"--allow-uid", "65534", "--allow-uid", "root"})...)
	if !slices.Equal(cfg.AllowUIDs, []int{65534, 0}) || cfg.AnyLocalUser || cfg.ListenUnix != "" {
		t.Fatalf("allow-uid: %+v %v", cfg.AllowUIDs, cfg.AnyLocalUser)
	}
	cfg, _ = mustConfig(t, nil, cmdline(upstream, none, []string{"--allow-uid", "any"})...)
	if !cfg.AnyLocalUser || len(cfg.AllowUIDs) != 0 {
		t.Fatalf("allow-uid any: %+v %v", cfg.AllowUIDs, cfg.AnyLocalUser)
	}
	cfg, _ = mustConfig(t, nil, cmdline(upstream, none, []string{"--listen-unix", "/run/scproxy.sock", "--listen-unix-mode", "0660"})...)
	if cfg.ListenUnix != "/run/scproxy.sock" || cfg.ListenUnixMode != 0o660 {
		t.Fatalf("listen-unix: %q %v", cfg.ListenUnix, cfg.ListenUnixMode)
	}
	if cfg, _ = mustConfig(t, nil, cmdline(upstream, none)...); cfg.ListenUnixMode != outbound.DefaultListenUnixMode || len(cfg.AllowUIDs) != 0 || cfg.AnyLocalUser {
		t.Fatalf("defaults: %+v", cfg)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"mode open to others", []string{"--listen-unix", "/run/s.sock", "--listen-unix-mode", "0666"}, "--listen-unix-mode 0666: want owner and group bits only"},
		{"mode not octal", []string{"--listen-unix", "/run/s.sock", "--listen-unix-mode", "rw"}, "--listen-unix-mode"},
		{"both listeners", []string{"--listen-unix", "/run/s.sock", "--listen", "127.0.0.1:9"}, "give only one"},
		{"unknown user", []string{"--allow-uid", "no-such-user-here"}, "--allow-uid"},
		{"negative uid", []string{"--allow-uid", "-1"}, "--allow-uid -1: not a uid"},
		{"any and a uid", []string{"--allow-uid", "any", "--allow-uid", "0"}, "--allow-uid any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, nil, cmdline(upstream, none, tc.args)...)
			if r.runErr == nil || !strings.Contains(r.runErr.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", r.runErr, tc.want)
			}
		})
	}
}

// TestStatusThroughUnixSocket: `scproxy status --listen-unix` reads the
// status document of a proxy that listens on a Unix socket.
func TestStatusThroughUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "scproxy.sock")
	u, _ := url.Parse("https://svc.example/Echo.svc")
	p, err := outbound.New(outbound.Config{ListenUnix: sock, Security: outbound.SecurityNone, Routes: []outbound.Route{{Prefix: "/", Upstream: u}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.Listen() // the socket exists from here on
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	code, out, errOut := runStatusMain(nil, "--listen-unix", sock, "--json")
	var st outbound.Status
	if code != ExitOK || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("exit %d, stderr %q, out %q", code, errOut, out)
	}
}
