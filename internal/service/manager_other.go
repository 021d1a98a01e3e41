//go:build !linux && !darwin && !windows

package service

import (
	"errors"
	"runtime"
)

// NewManager refuses: scproxy knows no service manager of this OS.
func NewManager(Env) (Manager, error) {
	return nil, errors.New("scproxy service: no service manager known on " + runtime.GOOS + "; run `scproxy run` under the host's own supervisor")
}
