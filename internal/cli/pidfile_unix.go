//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPIDFile opens path, takes its exclusive lock, which the process
// holds until it exits (or release), and writes the process's id in it.
// The lock is what tells reload that an agent owns the file: a file left
// by an agent that was killed names a process id that may since have
// been given to another program. An agent holding the file already is
// named in the error.
func lockPIDFile(path string) (*pidFile, error) {
	return lockPIDFileWaiting(path, func() { time.Sleep(pidLockPause) })
}

// pidLockTries and pidLockPause bound how long lockPIDFile waits for a
// lock someone holds: reload holds a shared one for an instant while it
// checks the file, which must not keep an agent starting then from
// running; an agent holds its exclusive one for its life.
const (
	pidLockTries = 5
	pidLockPause = 20 * time.Millisecond
)

// lockPIDFileWaiting is lockPIDFile, calling wait between its tries.
func lockPIDFileWaiting(path string, wait func()) (*pidFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	for try := 1; ; try++ {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || try == pidLockTries {
			break
		}
		wait()
	}
	if err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pid file %s is held by another scproxy (%s): two agents cannot share a pid-file", path, holder(f))
		}
		return nil, fmt.Errorf("pid file %s: lock: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &pidFile{path: path, f: f}, nil
}

// release removes the pid file when path is still the file locked (not
// one another agent made after it was removed) and releases the lock.
func (p *pidFile) release() {
	if p == nil {
		return
	}
	held, err1 := p.f.Stat()
	named, err2 := os.Stat(p.path)
	if err1 == nil && err2 == nil && os.SameFile(held, named) {
		_ = os.Remove(p.path)
	}
	_ = p.f.Close()
}

// heldPID returns the process id in path when a process holds the file's
// lock, which only a running agent does; errStalePIDFile when none does.
func heldPID(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A shared lock is granted only when no agent holds the exclusive
	// one; closing the file gives it back at once.
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		return 0, errStalePIDFile
	case !errors.Is(err, unix.EWOULDBLOCK):
		return 0, fmt.Errorf("lock: %w", err)
	}
	return readPID(f)
}

// holder names the process whose id f holds.
func holder(f *os.File) string {
	if pid, err := readPID(f); err == nil {
		return fmt.Sprintf("pid %d", pid)
	}
	return "its pid not written yet"
}
