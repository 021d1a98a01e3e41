package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/internal/service"
	"github.com/scproxy/scproxy/outbound"
)

// ServiceOptions are the flags of `scproxy service VERB`.
type ServiceOptions struct {
	// User installs or controls the user's service rather than the host's.
	User bool
	Name string
	// Config is the configuration file the service runs with (default:
	// the manager's place for it, e.g. /etc/scproxy/config.yaml).
	Config string
	// Credentials are NAME=PATH secrets loaded by systemd for the agent.
	Credentials []string
	// Binary is the scproxy the service runs (default: this one).
	Binary          string
	Watchdog        time.Duration
	ShutdownTimeout time.Duration
	// Print writes the service definition instead of installing it.
	Print bool
	// NoMan skips installing the man pages.
	NoMan bool

	// manager replaces the host's service manager in tests.
	manager service.Manager
}

// serviceVerbs are the subcommands of `scproxy service`.
var serviceVerbs = []struct{ name, short string }{
	{"install", "Install scproxy as a service of this host's service manager (and its man pages)"},
	{"uninstall", "Stop the service and remove it"},
	{"start", "Start the service"},
	{"stop", "Stop the service"},
	{"status", "Show the service manager's account of the service"},
}

// NewCmdService returns `scproxy service` and its verbs. runF runs one
// verb with the parsed options; nil means RunService.
func NewCmdService(s Streams, runF func(ctx context.Context, verb string, o *ServiceOptions, root *cobra.Command) error) *cobra.Command {
	if runF == nil {
		runF = func(ctx context.Context, verb string, o *ServiceOptions, root *cobra.Command) error {
			return RunService(ctx, verb, o, root, s)
		}
	}
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install and control scproxy as a system or user service",
		Long: `Install scproxy as a service of the host's service manager and control it:
a systemd unit (Type=notify, watchdog, sandboxed, secrets through
LoadCredential=), a launchd job, or a Windows service. The service runs
"scproxy run --config FILE".

A system service (the default) starts at boot and has no access to a
user's keyring: give secrets as systemd credentials (--credential NAME=PATH,
read by "run --systemd-credential NAME") or files. A user service (--user)
starts at login, as that user, and can use the keyring.`,
		Example: `  sudo scproxy service install --credential orders-password=/etc/scproxy/orders.pw
  scproxy service install --user --config ~/.config/scproxy/config.yaml
  scproxy service install --print        # show the unit, install nothing
  scproxy service status`,
		Args: cobra.NoArgs,
	}
	for _, v := range serviceVerbs {
		o := &ServiceOptions{}
		sub := &cobra.Command{
			Use:   v.name,
			Short: v.short,
			Args:  cobra.NoArgs,
			// No SCPROXY_ variables: those configure the proxy (run),
			// which the service reads from its own environment.
			RunE: func(c *cobra.Command, _ []string) error {
				return runF(c.Context(), c.Name(), o, c.Root())
			},
		}
		f := sub.Flags()
		f.BoolVar(&o.User, "user", false, "the user's service (started at login) instead of the host's")
		f.StringVar(&o.Name, "name", service.DefaultName, "name of the service")
		if v.name == "install" {
			f.StringVar(&o.Config, "config", "", "configuration file the service runs with (default: /etc/scproxy/config.yaml, or the user's ~/.config/scproxy/config.yaml; elsewhere the OS's place)")
			f.StringArrayVar(&o.Credentials, "credential", nil, "a secret systemd hands the service, as NAME=PATH (PATH readable by root only); the service reads it with run --systemd-credential NAME (repeatable)")
			f.StringVar(&o.Binary, "binary", "", "the scproxy binary the service runs (default: this one)")
			f.DurationVar(&o.Watchdog, "watchdog", service.DefaultWatchdog, "restart the service when it has not reported for this long (systemd)")
			f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", outbound.DefaultShutdownTimeout, "the service's run --shutdown-timeout: the manager waits this long and a little more for it to stop")
			f.BoolVar(&o.Print, "print", false, "print the service definition instead of installing it")
			f.BoolVar(&o.NoMan, "no-man", false, "do not install the man pages")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// RunService runs one verb of `scproxy service`. root is the scproxy
// command, whose man pages install writes.
func RunService(ctx context.Context, verb string, o *ServiceOptions, root *cobra.Command, s Streams) error {
	m := o.manager
	if m == nil {
		var err error
		if m, err = service.NewManager(service.Env{Getenv: s.environ(), UID: os.Getuid()}); err != nil {
			return err
		}
	}
	spec, err := o.spec(m)
	if err != nil {
		return err
	}
	switch verb {
	case "install":
		return o.install(ctx, m, spec, root, s)
	case "uninstall":
		if err := m.Uninstall(ctx, spec); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "removed the %s service %s\n", spec.Scope, spec.Name)
		return nil
	case "start":
		return m.Start(ctx, spec)
	case "stop":
		return m.Stop(ctx, spec)
	case "status":
		st, err := m.Status(ctx, spec)
		fmt.Fprint(s.Out, st)
		return err
	}
	return usageErrorf("service %s: want %s", verb, orList(verbNames()))
}

func verbNames() []string {
	out := make([]string, len(serviceVerbs))
	for i, v := range serviceVerbs {
		out[i] = v.name
	}
	return out
}

// spec turns the options into the service to install or control.
func (o *ServiceOptions) spec(m service.Manager) (service.Spec, error) {
	sp := service.Spec{Name: o.Name, Watchdog: o.Watchdog, ShutdownTimeout: o.ShutdownTimeout}
	if o.User {
		sp.Scope = service.User
	}
	exe, err := o.binary()
	if err != nil {
		return sp, err
	}
	sp.Executable = exe
	cfg := o.Config
	if cfg == "" {
		cfg = m.ConfigPath(sp.Scope)
	}
	if !filepath.IsAbs(cfg) {
		return sp, usageErrorf("--config %s: want an absolute path (the service does not start in this directory)", cfg)
	}
	sp.Args = []string{"run", "--config", cfg}
	for _, c := range o.Credentials {
		name, path, ok := strings.Cut(c, "=")
		if !ok || name == "" || path == "" {
			return sp, usageErrorf("--credential %q: want NAME=PATH", c)
		}
		sp.Credentials = append(sp.Credentials, service.Credential{Name: name, Path: path})
	}
	if err := sp.Check(); err != nil {
		return sp, asUsage(err)
	}
	return sp, nil
}

// binary is --binary, else this executable with its links resolved.
func (o *ServiceOptions) binary() (string, error) {
	if o.Binary != "" {
		if !filepath.IsAbs(o.Binary) {
			return "", usageErrorf("--binary %s: want an absolute path", o.Binary)
		}
		return o.Binary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this executable (give --binary): %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

// install installs the service and, where the OS has a place, the man
// pages; --print only shows the definition.
func (o *ServiceOptions) install(ctx context.Context, m service.Manager, spec service.Spec, root *cobra.Command, s Streams) error {
	path, text, err := m.Definition(spec)
	if err != nil {
		return asUsage(err)
	}
	if o.Print {
		if path != "" {
			fmt.Fprintf(s.Out, "# %s\n", path)
		}
		_, err := fmt.Fprint(s.Out, text)
		return err
	}
	if err := m.Install(ctx, spec); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "installed the %s service %s", spec.Scope, spec.Name)
	if path != "" {
		fmt.Fprintf(s.Out, " (%s)", path)
	}
	fmt.Fprintf(s.Out, "; it runs %s\n", strings.Join(append([]string{spec.Executable}, spec.Args...), " "))
	if dir := m.ManDir(spec.Scope); dir != "" && !o.NoMan {
		if err := writeManPages(root, dir); err != nil {
			return fmt.Errorf("the service is installed, but not its man pages: %w", err)
		}
		fmt.Fprintf(s.Out, "man pages in %s (man scproxy)\n", dir)
	}
	if _, err := os.Stat(spec.Args[2]); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(s.Out, "write %s before starting the service (scproxy service start)\n", spec.Args[2])
	}
	return nil
}
