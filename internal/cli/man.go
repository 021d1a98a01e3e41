package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// NewCmdMan returns `scproxy man DIR`. runF writes the pages of root to
// the directory; nil means writeManPages.
func NewCmdMan(s Streams, runF func(ctx context.Context, root *cobra.Command, dir string) error) *cobra.Command {
	if runF == nil {
		runF = func(_ context.Context, root *cobra.Command, dir string) error {
			if err := writeManPages(root, dir); err != nil {
				return err
			}
			_, err := fmt.Fprintf(s.Out, "man pages written to %s\n", dir)
			return err
		}
	}
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write the man pages of every command to DIR",
		Long: `Write a section-1 man page for scproxy and each of its commands to DIR
(scproxy.1, scproxy-run.1, ...), made from the same definitions as --help.
"scproxy service install" installs them where the OS keeps them.`,
		Example: "  scproxy man /usr/local/share/man/man1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runF(cmd.Context(), cmd.Root(), args[0])
		},
	}
}

// writeManPages writes the man pages of root and its commands to dir,
// creating it.
func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	header := &doc.GenManHeader{Title: "SCPROXY", Section: "1", Source: "scproxy " + moduleVersion(), Manual: "scproxy manual"}
	root.DisableAutoGenTag = true
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}

// moduleVersion is the module version the binary was built from.
func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return unknownVersion
}
