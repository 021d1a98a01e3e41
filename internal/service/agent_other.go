//go:build !windows

package service

import "context"

// Run runs serve under the host's service manager until ctx ends: under
// systemd it speaks the notification protocol (runNotify); launchd, like
// a terminal, only needs the process to run.
func (a Agent) Run(ctx context.Context, serve ServeFunc) error { return a.runNotify(ctx, serve) }
