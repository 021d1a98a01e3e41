package cli

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// noCoreDumps makes the process non-dumpable (prctl PR_SET_DUMPABLE 0):
// no core file, and no ptrace or /proc/PID/mem by other processes of the
// same user, since the memory holds the password and the context keys.
func noCoreDumps() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the process non-dumpable: %w", err)
	}
	return nil
}

// dumpable reports the process's PR_GET_DUMPABLE.
func dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
