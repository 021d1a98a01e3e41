package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// unknownVersion stands for whatever the build did not record, as the Go
// toolchain writes an unreleased module version.
const unknownVersion = "(devel)"

// NewCmdVersion returns `scproxy version`. readBuildInfo reports how the
// binary was built; nil means debug.ReadBuildInfo.
func NewCmdVersion(s Streams, readBuildInfo func() (*debug.BuildInfo, bool)) *cobra.Command {
	if readBuildInfo == nil {
		readBuildInfo = debug.ReadBuildInfo
	}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of scproxy and how it was built",
		Long: `Print the module version, the Go version and the version control state
scproxy was built from, on one line:

  scproxy v0.3.1 (go: go1.26.8, revision: d4f3008c0ffee, time: 2025-11-21T02:24:00Z, modified: false)

A value the build did not record reads (devel).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(s.Out, versionLine(versionLines(readBuildInfo())))
			return err
		},
	}
}

// versionLine writes the version's fields on one line: the version, then
// the others as "key: value" in parentheses.
func versionLine(kvs [][2]string) string {
	rest := make([]string, 0, len(kvs)-1)
	for _, kv := range kvs[1:] {
		rest = append(rest, kv[0]+": "+kv[1])
	}
	return "scproxy " + kvs[0][1] + " (" + strings.Join(rest, ", ") + ")"
}

// versionLines returns the key and value of each line of `scproxy version`.
func versionLines(info *debug.BuildInfo, ok bool) [][2]string {
	lines := [][2]string{
		{"version", ""},
		{"go", runtime.Version()},
		{"revision", ""},
		{"time", ""},
		{"modified", ""},
	}
	if ok && info != nil {
		lines[0][1] = info.Main.Version
		if info.GoVersion != "" {
			lines[1][1] = info.GoVersion
		}
		settings := map[string]string{}
		for _, bs := range info.Settings {
			settings[bs.Key] = bs.Value
		}
		lines[2][1] = settings["vcs.revision"]
		lines[3][1] = settings["vcs.time"]
		lines[4][1] = settings["vcs.modified"]
	}
	for i := range lines {
		if lines[i][1] == "" {
			lines[i][1] = unknownVersion
		}
	}
	return lines
}
