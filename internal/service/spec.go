package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Scope says whose service scproxy is: the host's (started at boot, run
// as a system user) or one user's (started at login, run as that user,
// with access to the user's keyring).
type Scope int

// Scopes of a service.
const (
	System Scope = iota
	User
)

// String is the scope's name on the command line.
func (s Scope) String() string {
	if s == User {
		return "user"
	}
	return "system"
}

// Spec describes the service to install.
type Spec struct {
	// Name names the service (the unit, the launchd label's last part,
	// the Windows service): letters, digits, '.', '_' and '-'.
	Name string
	// Executable is the absolute path of the scproxy binary; Args its
	// arguments (run --config FILE).
	Executable string
	Args       []string
	Scope      Scope
	// Credentials are secrets the manager hands the agent (systemd's
	// LoadCredential=), so that the configuration names them rather than
	// holding them.
	Credentials []Credential
	// Watchdog is the interval within which the agent must tell the
	// manager it is alive (0: DefaultWatchdog). ShutdownTimeout is the
	// agent's own (run --shutdown-timeout; 0: its default): the manager
	// waits a little longer before killing it.
	Watchdog        time.Duration
	ShutdownTimeout time.Duration
}

// Defaults of a Spec.
const (
	DefaultName            = "scproxy"
	DefaultWatchdog        = 30 * time.Second
	defaultShutdownTimeout = 30 * time.Second // run's --shutdown-timeout
	// stopGrace is what the manager waits beyond the agent's shutdown
	// timeout: cancelling the contexts and exiting.
	stopGrace = 15 * time.Second
	// Description is the service's one-line description.
	Description = "scproxy: WS-SecureConversation for outbound SOAP calls"
)

// Credential is one secret the manager loads for the agent: Path, a file
// only root reads, is seen by the agent as $CREDENTIALS_DIRECTORY/Name
// (run --systemd-credential Name).
type Credential struct{ Name, Path string }

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// lineBreaks end a line in a unit file or plist (systemd takes a carriage
// return for one), or cut a string short: a path holding one could add a
// directive of its own.
const lineBreaks = "\n\r\x00"

// Check refuses a spec no manager can take.
func (s Spec) Check() error {
	switch {
	case !safeName.MatchString(s.Name):
		return fmt.Errorf("service name %q: want letters, digits, '.', '_' or '-' (at most 64)", s.Name)
	case !filepath.IsAbs(s.Executable) || strings.ContainsAny(s.Executable, lineBreaks):
		return fmt.Errorf("executable %q: want an absolute path on one line", s.Executable)
	case s.Watchdog < 0 || s.ShutdownTimeout < 0:
		return errors.New("watchdog and shutdown timeout: want positive durations")
	}
	for _, c := range s.Credentials {
		if !safeName.MatchString(c.Name) {
			return fmt.Errorf("credential name %q: want letters, digits, '.', '_' or '-'", c.Name)
		}
		if !filepath.IsAbs(c.Path) || strings.ContainsAny(c.Path, lineBreaks) {
			return fmt.Errorf("credential %s: path %q: want an absolute path on one line", c.Name, c.Path)
		}
	}
	for _, a := range s.Args {
		if strings.ContainsAny(a, lineBreaks) {
			return errors.New("service arguments: a line break or NUL in an argument")
		}
	}
	return nil
}

func (s Spec) watchdog() time.Duration { return cmp0(s.Watchdog, DefaultWatchdog) }

// stopTimeout is how long the manager waits for the agent to stop.
func (s Spec) stopTimeout() time.Duration {
	return cmp0(s.ShutdownTimeout, defaultShutdownTimeout) + stopGrace
}

func cmp0(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Env is what a Manager needs of the host: the environment, a way to run
// the manager's command-line tool, the root under which files are written
// (tests use a temporary directory; "" is /), and the user's id.
type Env struct {
	Getenv func(string) string
	Run    Runner
	Root   string
	UID    int
}

// Runner runs a command and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs the command on the host.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Manager installs and controls the service under one service manager.
type Manager interface {
	// Install writes the service definition and registers it to start
	// at boot (system) or login (user); Uninstall stops it and removes it.
	Install(ctx context.Context, s Spec) error
	Uninstall(ctx context.Context, s Spec) error
	Start(ctx context.Context, s Spec) error
	Stop(ctx context.Context, s Spec) error
	// Status is the manager's own account of the service.
	Status(ctx context.Context, s Spec) (string, error)
	// Definition is the text Install writes and where.
	Definition(s Spec) (path, text string, err error)
	// ManDir is where section-1 man pages go for the scope ("": nowhere).
	ManDir(scope Scope) string
	// ConfigPath is the configuration file a service of the scope reads
	// unless told otherwise.
	ConfigPath(scope Scope) string
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// path puts p under the root.
func (e Env) path(p string) string { return filepath.Join(e.Root, p) }

// home is the user's home directory, from HOME.
func (e Env) home() (string, error) {
	h := e.getenv("HOME")
	if !filepath.IsAbs(h) {
		return "", errors.New("HOME is not set to an absolute path: a user service needs the user's home")
	}
	return h, nil
}

// xdg is the XDG base directory of variable, else home/fallback.
func (e Env) xdg(variable, fallback string) (string, error) {
	if d := e.getenv(variable); filepath.IsAbs(d) {
		return d, nil
	}
	h, err := e.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, fallback), nil
}

// run runs a manager command, its output in the error when it fails.
func (e Env) run(ctx context.Context, name string, args ...string) (string, error) {
	r := e.Run
	if r == nil {
		r = ExecRunner
	}
	out, err := r(ctx, name, args...)
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// writeFile writes a service definition, readable by all (it holds no
// secret), creating its directory.
func writeFile(path, text string) error {
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(text), 0o644)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (a system service is installed as root; a user's with --user)", err)
	}
	return err
}

// removeFile removes a definition; one already gone is no error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
