package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

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
scproxy was built from, one "key: value" per line. A value the build did not
record reads (devel).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, kv := range versionLines(readBuildInfo()) {
				if _, err := fmt.Fprintf(s.Out, "%s: %s\n", kv[0], kv[1]); err != nil {
					return err
				}
			}
			return nil
		},
	}
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
