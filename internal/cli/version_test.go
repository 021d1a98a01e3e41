package cli

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	full := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/scproxy/scproxy", Version: "v0.3.1"},
		Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "d4f3008c0ffee"},
			{Key: "vcs.time", Value: "2025-11-21T02:24:00Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want []string
	}{
		{"release build", full, true, []string{
			"scproxy v0.3.1 (go: go1.26.8, revision: d4f3008c0ffee, time: 2025-11-21T02:24:00Z, modified: false)",
		}},
		{"go run without VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, true, []string{
			"scproxy (devel) (go: go1.26.0, revision: (devel), time: (devel), modified: (devel))",
		}},
		{"no build info", nil, false, []string{
			"scproxy (devel) (go: " + runtime.Version() + ", revision: (devel), time: (devel), modified: (devel))",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			s := Streams{Out: &out, Err: &errOut}
			cmd := NewCmdVersion(s, func() (*debug.BuildInfo, bool) { return tc.info, tc.ok })
			cmd.SetArgs(nil)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("output\n%s\nwant\n%s", out.String(), strings.Join(tc.want, "\n"))
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
}

// TestVersionMain runs the real command: one line (what a newcomer pastes
// into a report), every field with a value, and an argument is a usage
// error.
func TestVersionMain(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"version"}, Streams{Out: &out, Err: &errOut}); code != ExitOK {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	line, ok := strings.CutSuffix(out.String(), "\n")
	if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "scproxy ") {
		t.Fatalf("output %q is not one line starting scproxy", out.String())
	}
	var keys []string
	for _, f := range strings.Split(line[strings.Index(line, " (go: ")+2:len(line)-1], ", ") {
		k, v, ok := strings.Cut(f, ": ")
		if !ok || v == "" {
			t.Errorf("field %q is not key: value", f)
		}
		keys = append(keys, k)
	}
	if want := []string{"go", "revision", "time", "modified"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if code := Main(context.Background(), []string{"version", "extra"}, Streams{Out: &out, Err: &errOut}); code != ExitUsage {
		t.Errorf("exit code %d for an argument", code)
	}
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		shell string
		want  string
	}{
		{"bash", "__start_scproxy"},
		{"zsh", "#compdef scproxy"},
		{"fish", "complete -c scproxy"},
	}
	for _, tc := range tests {
		t.Run(tc.shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), []string{"completion", tc.shell}, Streams{Out: &out, Err: &errOut}); code != ExitOK {
				t.Fatalf("exit code %d: %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("no %q in the %s script (%d bytes)", tc.want, tc.shell, out.Len())
			}
		})
	}
}
