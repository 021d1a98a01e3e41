//go:build !unix

package cli

import (
	"errors"
	"fmt"
	"os"
)

// lockPIDFile writes the process's id to path. This system has no
// advisory lock that reload could test, nor SIGHUP: the file only tells
// where the agent runs.
func lockPIDFile(path string) (*pidFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	defer f.Close()
	if err := writePID(f); err != nil {
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &pidFile{path: path}, nil
}

// release removes the pid file when it still names this process.
func (p *pidFile) release() {
	if p == nil {
		return
	}
	f, err := os.Open(p.path)
	if err != nil {
		return
	}
	pid, err := readPID(f)
	f.Close()
	if err == nil && pid == os.Getpid() {
		_ = os.Remove(p.path)
	}
}

// heldPID refuses: reload signals the agent with SIGHUP, which this
// system does not have.
func heldPID(string) (int, error) {
	return 0, errors.New("this system has no SIGHUP to signal the agent with: restart scproxy to apply a changed file")
}
