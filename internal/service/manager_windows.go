package service

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// SCM manages the service through the Windows Service Control Manager.
type SCM struct{ Env Env }

// NewManager returns the host's service manager: the Service Control
// Manager.
func NewManager(env Env) (Manager, error) { return SCM{Env: env}, nil }

// Definition is the service as the Service Control Manager will hold it;
// it has no file.
func (SCM) Definition(s Spec) (string, string, error) {
	text, err := scmDefinition(s)
	return "", text, err
}

// open connects to the manager and opens s's service.
func open(s Spec) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the service control manager (an elevated prompt is needed): %w", err)
	}
	sv, err := m.OpenService(s.Name)
	if err != nil {
		_ = m.Disconnect()
		return nil, nil, fmt.Errorf("service %s: %w", s.Name, err)
	}
	return m, sv, nil
}

// Install creates the service, started automatically and restarted after
// a failure.
func (SCM) Install(_ context.Context, s Spec) error {
	if _, err := scmDefinition(s); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (an elevated prompt is needed): %w", err)
	}
	defer m.Disconnect()
	sv, err := m.CreateService(s.Name, s.Executable, mgr.Config{
		DisplayName: scmName, Description: Description,
		StartType: mgr.StartAutomatic, DelayedAutoStart: true,
	}, s.Args...)
	if err != nil {
		return fmt.Errorf("creating service %s: %w", s.Name, err)
	}
	defer sv.Close()
	return sv.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 5 * time.Second}}, 24*60*60)
}

// Uninstall stops the service and deletes it.
func (w SCM) Uninstall(ctx context.Context, s Spec) error {
	_ = w.Stop(ctx, s)
	m, sv, err := open(s)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer sv.Close()
	return sv.Delete()
}

// Start starts the service.
func (SCM) Start(_ context.Context, s Spec) error {
	m, sv, err := open(s)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer sv.Close()
	return sv.Start()
}

// Stop asks the service to stop and waits until it has, or ctx ends.
func (SCM) Stop(ctx context.Context, s Spec) error {
	m, sv, err := open(s)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer sv.Close()
	st, err := sv.Control(svc.Stop)
	if err != nil {
		return fmt.Errorf("stopping %s: %w", s.Name, err)
	}
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for st.State != svc.Stopped {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopping %s: %w", s.Name, ctx.Err())
		case <-t.C:
		}
		if st, err = sv.Query(); err != nil {
			return err
		}
	}
	return nil
}

var scmStates = map[svc.State]string{
	svc.Stopped: "stopped", svc.StartPending: "starting", svc.StopPending: "stopping",
	svc.Running: "running", svc.ContinuePending: "continuing", svc.PausePending: "pausing", svc.Paused: "paused",
}

// Status is the service's state.
func (SCM) Status(_ context.Context, s Spec) (string, error) {
	m, sv, err := open(s)
	if err != nil {
		return "", err
	}
	defer m.Disconnect()
	defer sv.Close()
	st, err := sv.Query()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s (pid %d)\n", s.Name, scmStates[st.State], st.ProcessId), nil
}

// ManDir is none: Windows has no man pages.
func (SCM) ManDir(Scope) string { return "" }

// ConfigPath is %ProgramData%\scproxy\config.yaml.
func (w SCM) ConfigPath(Scope) string {
	pd := w.Env.getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "scproxy", "config.yaml")
}
