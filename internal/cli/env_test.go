package cli

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// mapEnv is an environment holding only m.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// envFlags is a flag set with one flag of each kind bindEnv must handle.
type envFlags struct {
	name  string
	count int
	on    bool
	items []string // StringArray
	tags  []string // StringSlice
	wait  time.Duration
	help  bool
}

func newEnvFlags() (*pflag.FlagSet, *envFlags) {
	v := &envFlags{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&v.name, "some-name", "default", "")
	fs.IntVar(&v.count, "count", 1, "")
	fs.BoolVar(&v.on, "on", false, "")
	fs.StringArrayVar(&v.items, "item", []string{"d"}, "")
	fs.StringSliceVar(&v.tags, "tag", nil, "")
	fs.DurationVar(&v.wait, "wait", time.Second, "")
	fs.BoolVar(&v.help, "help", false, "")
	return fs, v
}

func TestBindEnv(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*envFlags) bool
	}{
		{"defaults without environment", nil, nil, func(v *envFlags) bool {
			return v.name == "default" && v.count == 1 && !v.on && slices.Equal(v.items, []string{"d"}) && v.wait == time.Second
		}},
		{"environment fills unset flags", nil,
			map[string]string{"T_SOME_NAME": "env", "T_COUNT": "7", "T_ON": "true", "T_WAIT": "3m"},
			func(v *envFlags) bool { return v.name == "env" && v.count == 7 && v.on && v.wait == 3*time.Minute }},
		{"flag beats environment", []string{"--some-name", "flag", "--count", "2"},
			map[string]string{"T_SOME_NAME": "env", "T_COUNT": "7"},
			func(v *envFlags) bool { return v.name == "flag" && v.count == 2 }},
		{"explicit false flag beats true environment", []string{"--on=false"}, map[string]string{"T_ON": "true"},
			func(v *envFlags) bool { return !v.on }},
		{"repeatable array from a comma list replaces the default", nil, map[string]string{"T_ITEM": "a, b,,c"},
			func(v *envFlags) bool { return slices.Equal(v.items, []string{"a", "b", "c"}) }},
		{"repeatable slice from a comma list", nil, map[string]string{"T_TAG": "x,y"},
			func(v *envFlags) bool { return slices.Equal(v.tags, []string{"x", "y"}) }},
		{"repeated flags beat the environment list", []string{"--item", "f1", "--item", "f2"}, map[string]string{"T_ITEM": "a,b"},
			func(v *envFlags) bool { return slices.Equal(v.items, []string{"f1", "f2"}) }},
		{"empty variable counts as unset", nil, map[string]string{"T_SOME_NAME": ""},
			func(v *envFlags) bool { return v.name == "default" }},
		{"help is never read from the environment", nil, map[string]string{"T_HELP": "true"},
			func(v *envFlags) bool { return !v.help }},
		{"other prefixes are ignored", nil, map[string]string{"SOME_NAME": "x", "COUNT": "9"},
			func(v *envFlags) bool { return v.name == "default" && v.count == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, v := newEnvFlags()
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := bindEnv(fs, "T_", mapEnv(tc.env)); err != nil {
				t.Fatal(err)
			}
			if !tc.check(v) {
				t.Errorf("flags %+v", *v)
			}
		})
	}
}

func TestBindEnvBadValue(t *testing.T) {
	tests := []struct {
		name, env, value string
	}{
		{"int", "T_COUNT", "many"},
		{"bool", "T_ON", "maybe"},
		{"duration", "T_WAIT", "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newEnvFlags()
			err := bindEnv(fs, "T_", mapEnv(map[string]string{tc.env: tc.value}))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a usage error", err)
			}
			flag := "--" + strings.ToLower(strings.TrimPrefix(tc.env, "T_"))
			if msg := err.Error(); !strings.Contains(msg, "$"+tc.env) || !strings.Contains(msg, flag) || strings.Contains(msg, "\n") {
				t.Errorf("message %q should name %s and %s on one line", msg, tc.env, flag)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"listen":              "SCPROXY_LISTEN",
		"sc-version":          "SCPROXY_SC_VERSION",
		"signature-algorithm": "SCPROXY_SIGNATURE_ALGORITHM",
	} {
		if got := envName(envPrefix, flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}
