package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix starts the name of every environment variable a flag reads.
const envPrefix = "SCPROXY_"

// envName is the environment variable of the flag name: --sc-version
// reads SCPROXY_SC_VERSION.
func envName(prefix, flag string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// noEnv is the environment of Streams without Getenv: empty.
func noEnv(string) string { return "" }

// environ returns the environment lookup of s, never nil.
func (s Streams) environ() func(string) string {
	if s.Getenv == nil {
		return noEnv
	}
	return s.Getenv
}

// annotateEnv appends to the help of every flag of fs the environment
// variable it falls back to, so --help documents them all.
func annotateEnv(fs *pflag.FlagSet, prefix string) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += fmt.Sprintf(" [$%s]", envName(prefix, f.Name))
	})
}

// bindEnv gives every flag of fs that the command line left unset the
// value of its environment variable, so that a flag beats the environment
// and the environment beats the default. A repeatable flag takes a
// comma-separated list. An empty variable counts as unset: getenv cannot
// tell the two apart. --help is never read from the environment.
func bindEnv(fs *pflag.FlagSet, prefix string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envName(prefix, f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(pflag.SliceValue); repeatable {
			values = splitList(v)
		}
		for _, item := range values {
			if e := fs.Set(f.Name, item); e != nil {
				// e names the flag and the value; the variable says where
				// the value came from.
				err = usageErrorf("$%s: %v", name, e)
				return
			}
		}
	})
	return err
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
