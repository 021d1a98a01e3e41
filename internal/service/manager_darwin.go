package service

// NewManager returns the host's service manager: launchd.
func NewManager(env Env) (Manager, error) { return Launchd{Env: env}, nil }
