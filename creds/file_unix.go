//go:build unix

package creds

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openSecretFile opens path for reading without waiting: O_NONBLOCK
// makes opening a FIFO or a device return at once (the caller then
// refuses what is not a regular file), where a plain open would block
// the start until a writer came. Regular files ignore the flag.
func openSecretFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}

// checkOwner refuses a file that another user owns: that user chooses
// the secret (and may replace it), whatever the file's mode says.
func checkOwner(path string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("file %s: owned by uid %d, not by this process's user (uid %d); run chown %d %s", path, st.Uid, euid, euid, path)
	}
	return nil
}
