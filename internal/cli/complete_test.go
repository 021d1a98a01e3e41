package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// TestFlagChoicesInHelp: each enumerated flag's help names every value
// its command accepts, so help, validation and completion agree.
func TestFlagChoicesInHelp(t *testing.T) {
	root := NewRootCmd(Streams{})
	for cmdName, flags := range flagChoices() {
		cmd, _, err := root.Find([]string{cmdName})
		if err != nil || cmd.Name() != cmdName {
			t.Fatalf("no command %s: %v", cmdName, err)
		}
		for flag, values := range flags {
			f := cmd.Flags().Lookup(flag)
			if f == nil {
				t.Errorf("%s has no --%s", cmdName, flag)
				continue
			}
			for _, v := range values {
				if !strings.Contains(f.Usage, v) {
					t.Errorf("%s --%s: help %q does not name %q", cmdName, flag, f.Usage, v)
				}
			}
		}
	}
}

// TestCompletesEnumValues asks the completion machinery, as a shell
// does, for the values of each enumerated flag.
func TestCompletesEnumValues(t *testing.T) {
	for cmdName, flags := range flagChoices() {
		for flag, values := range flags {
			var out bytes.Buffer
			code := Main(context.Background(), []string{"__complete", cmdName, "--" + flag, ""}, Streams{Out: &out, Err: &bytes.Buffer{}})
			if code != ExitOK {
				t.Fatalf("%s --%s: exit %d", cmdName, flag, code)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			got := lines[:len(lines)-1] // the last line is the directive
			if !slices.Equal(got, values) {
				t.Errorf("%s --%s completes %q, want %q", cmdName, flag, got, values)
			}
			if lines[len(lines)-1] != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("%s --%s: directive %s, want no file completion", cmdName, flag, lines[len(lines)-1])
			}
		}
	}
}

// TestValidationUsesTheChoices: a value not in the table is refused,
// naming every accepted one.
func TestValidationUsesTheChoices(t *testing.T) {
	for flag, values := range flagChoices()["run"] {
		r := runCmd(t, baseEnv, cmdline(upstream, userPW, []string{"--" + flag, "bogus-value"})...)
		if r.runErr == nil {
			t.Errorf("--%s bogus-value accepted", flag)
			continue
		}
		for _, v := range values {
			if !strings.Contains(r.runErr.Error(), v) {
				t.Errorf("--%s bogus-value: %v does not name %q", flag, r.runErr, v)
			}
		}
	}
}
