// Package cli turns scproxy's command line into configurations and hands
// them to the packages that do the work. It parses and maps; the
// configurations validate themselves, and their field errors reach the
// user under the flags' names (configFlags, the one table between the
// two). Each command is built by a NewCmdX function taking the function
// that runs it, so that flag parsing is tested apart from running; errors
// become exit codes in one place, Main.
//
// The configuration file (config*.go, docs/config.md) is the same command
// line per service: its keys are run's flags, each service's values are
// set on a fresh run command, and reload applies a changed file to the
// running services (outbound.Front).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Streams are where a command reads and writes.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// Getenv looks up an environment variable; nil means an empty
	// environment. Commands reach the environment only through it.
	Getenv func(string) string
}

// Exit codes of Main.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed
	ExitUsage = 2 // the command line is wrong
)

// UsageError marks an error in the command line, as opposed to a failure
// while running.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// NewRootCmd returns the scproxy command with its subcommands.
func NewRootCmd(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "scproxy",
		Short:         "Add WS-SecureConversation to outbound SOAP calls",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	root.AddCommand(NewCmdDemoServer(s, nil))
	root.AddCommand(NewCmdDemo(s, nil))
	root.AddCommand(NewCmdRun(s, nil))
	root.AddCommand(NewCmdVersion(s, nil))
	root.AddCommand(NewCmdStatus(s, nil))
	root.AddCommand(NewCmdCreds(s, nil))
	root.AddCommand(NewCmdConfig(s), NewCmdReload(s))
	root.AddCommand(NewCmdService(s, nil))
	root.AddCommand(NewCmdMan(s, nil))
	registerCompletions(root)
	return root
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	root := NewRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(s.Err, "scproxy:", err)
	var ue *UsageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitError
}

// isCobraUsage recognises the argument errors cobra makes itself (unknown
// command, wrong number of arguments), which carry no type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand flag"} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}
