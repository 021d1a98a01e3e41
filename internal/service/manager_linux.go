package service

// NewManager returns the host's service manager: systemd.
func NewManager(env Env) (Manager, error) { return Systemd{Env: env}, nil }
