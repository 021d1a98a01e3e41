//go:build !linux

package cli

// noCoreDumps does nothing here: only Linux has PR_SET_DUMPABLE (limit
// core files with the service manager, e.g. ulimit -c 0).
func noCoreDumps() error { return nil }

// dumpable reports true: nothing here makes the process non-dumpable.
func dumpable() (bool, error) { return true, nil }
