package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/scproxy/scproxy/outbound"
)

// configFile returns the configuration file --config or $SCPROXY_CONFIG
// names, or "" for a run configured by flags only.
func configFile(flags *pflag.FlagSet, getenv func(string) string) string {
	if f := flags.Lookup(configKey); f != nil && f.Changed {
		return f.Value.String()
	}
	return getenv(envName(envPrefix, configKey))
}

// configLoader reads the file and builds every service's configuration,
// each time the same way: the overrides of the command line and the
// environment are read once, at start.
type configLoader struct {
	file      string
	overrides overrides
	s         Streams
}

// newConfigLoader returns the loader of file under the flags of a run or
// config command, before the environment is bound to them.
func newConfigLoader(flags *pflag.FlagSet, file string, s Streams) *configLoader {
	return &configLoader{file: file, overrides: readOverrides(flags, s.environ()), s: s}
}

// resolve reads the file and applies the precedence.
func (l *configLoader) resolve() (*resolvedConfig, error) {
	fc, err := readConfigFile(l.file)
	if err != nil {
		return nil, err
	}
	return resolveConfig(fc, l.overrides)
}

// load resolves and builds every service.
func (l *configLoader) load(ctx context.Context) (*resolvedConfig, []builtService, error) {
	rc, err := l.resolve()
	if err != nil {
		return nil, nil, err
	}
	built, err := rc.build(ctx, l.s)
	if err != nil {
		return nil, nil, err
	}
	return rc, built, nil
}

// agent runs the services of a configuration file behind one Front and
// applies the file again on reload. Only the goroutine of runConfigFile
// (or a test) calls its methods.
type agent struct {
	loader  *configLoader
	front   *outbound.Front
	log     *slog.Logger
	global  string // fingerprint of the global values
	globals map[string]setValue
	running map[string]runningService
	pidFile string
	// newProxy makes the Proxy of a service (outbound.New).
	newProxy func(outbound.Config) (*outbound.Proxy, error)
}

// runningService is a service the Front serves and what it was built from.
type runningService struct {
	builtService
	proxy *outbound.Proxy
}

// newAgent loads the file and makes the Front of its services.
func newAgent(ctx context.Context, l *configLoader) (*agent, error) {
	rc, built, err := l.load(ctx)
	if err != nil {
		return nil, err
	}
	a := &agent{loader: l, global: rc.globalFingerprint(), globals: rc.global, running: map[string]runningService{}, newProxy: outbound.New}
	services, err := a.start(ctx, built)
	if err != nil {
		closeBuilt(built)
		return nil, err
	}
	listener := *built[0].cfg // every service has the global settings
	if listener.Logger, err = globalLogger(rc, l.s); err != nil {
		a.unstart(ctx, nil)
		return nil, err
	}
	a.log = listener.Logger
	if a.front, err = outbound.NewFront(listener, services); err != nil {
		a.unstart(ctx, nil)
		return nil, err
	}
	a.pidFile = pidFilePath(rc.global[pidFileKey].items, l.s.environ())
	return a, nil
}

// globalLogger is the logger of the file's log-level and log-format.
func globalLogger(rc *resolvedConfig, s Streams) (*slog.Logger, error) {
	o := &RunOptions{LogLevel: rc.global["log-level"].items[0], LogFormat: rc.global["log-format"].items[0]}
	return o.logger(s.Err)
}

// start makes a Proxy for each built service that is not running as it
// is, and returns the services to serve: the running ones kept, the new
// ones. The built configurations of the kept ones are closed, unused.
// When a Proxy cannot be made, those made before it are shut down and
// nothing changes.
func (a *agent) start(ctx context.Context, built []builtService) ([]outbound.Service, error) {
	var services []outbound.Service
	var made []*outbound.Proxy
	for _, b := range built {
		if r, ok := a.running[b.name]; ok && r.fingerprint == b.fingerprint {
			services = append(services, outbound.Service{Name: b.name, Proxy: r.proxy})
			continue
		}
		p, err := a.newProxy(*b.cfg)
		if err != nil {
			for _, p := range made {
				p.Shutdown(ctx)
			}
			return nil, asUsage(fmt.Errorf("service %q: %w", b.name, err))
		}
		made = append(made, p)
		services = append(services, outbound.Service{Name: b.name, Proxy: p})
	}
	for i, b := range built {
		if r, ok := a.running[b.name]; ok && r.proxy == services[i].Proxy {
			closeBootstraps(b.cfg)
			built[i] = r.builtService
		}
	}
	next := map[string]runningService{}
	for i, b := range built {
		next[b.name] = runningService{builtService: b, proxy: services[i].Proxy}
	}
	a.running = next
	return services, nil
}

// unstart undoes a start that does not take effect: the services it
// started (those not in prev, or in prev with another Proxy) are shut
// down, which cancels any context they established, their bootstraps are
// closed, and prev runs again.
func (a *agent) unstart(ctx context.Context, prev map[string]runningService) {
	for name, r := range a.running {
		if old, ok := prev[name]; !ok || old.proxy != r.proxy {
			r.proxy.Shutdown(ctx)
			closeBootstraps(r.cfg)
		}
	}
	a.running = prev
}

// reloadResult counts what a reload did.
type reloadResult struct {
	Started, Changed, Removed, Kept []string
}

// reload applies the file again (see docs/config.md, Reload): the whole
// file is checked first, and one that fails, or changes a global key, is
// refused and nothing changes.
func (a *agent) reload(ctx context.Context) (reloadResult, error) {
	var res reloadResult
	rc, built, err := a.loader.load(ctx)
	if err != nil {
		return res, err
	}
	if rc.globalFingerprint() != a.global {
		closeBuilt(built)
		return res, fmt.Errorf("%s changed: the listener's and the process's settings take effect at the next start; restore them to reload, or restart", strings.Join(changedKeys(a.globals, rc.global), ", "))
	}
	prev := a.running
	for _, b := range built {
		switch r, ok := prev[b.name]; {
		case !ok:
			res.Started = append(res.Started, b.name)
		case r.fingerprint != b.fingerprint:
			res.Changed = append(res.Changed, b.name)
		default:
			res.Kept = append(res.Kept, b.name)
		}
	}
	services, err := a.start(context.WithoutCancel(ctx), built)
	if err != nil {
		closeBuilt(built)
		return res, err
	}
	var retired []runningService
	for name, r := range prev {
		if cur, ok := a.running[name]; !ok || cur.proxy != r.proxy {
			retired = append(retired, r)
		}
		if _, ok := a.running[name]; !ok {
			res.Removed = append(res.Removed, name)
		}
	}
	if err := a.front.Replace(context.WithoutCancel(ctx), services); err != nil {
		a.unstart(context.WithoutCancel(ctx), prev)
		return res, err
	}
	for _, r := range retired {
		closeBootstraps(r.cfg)
	}
	slices.Sort(res.Removed)
	return res, nil
}

// changedKeys names the keys whose values differ between a and b.
func changedKeys(a, b map[string]setValue) []string {
	var out []string
	for k, v := range b {
		if !slices.Equal(a[k].items, v.items) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// logReload logs what a reload did, or why it was refused.
func (a *agent) logReload(res reloadResult, err error) {
	if err != nil {
		a.log.Error("configuration refused; the running services stay as they are", "file", a.loader.file, "err", err)
		return
	}
	a.log.Info("configuration reloaded", "file", a.loader.file,
		"started", res.Started, "changed", res.Changed, "removed", res.Removed, "kept", len(res.Kept))
}

// close closes the bootstraps of every running service.
func (a *agent) close() {
	for _, r := range a.running {
		closeBootstraps(r.cfg)
	}
}

// runConfigFile runs the services of file until ctx ends, applying the
// file again on SIGHUP. flags are run's, before the environment is bound.
func runConfigFile(ctx context.Context, flags *pflag.FlagSet, file string, s Streams) error {
	a, err := newAgent(ctx, newConfigLoader(flags, file, s))
	if err != nil {
		return err
	}
	defer a.close()
	// Before the pid file tells anyone where to send it: SIGHUP ends a
	// process that does not handle it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if a.pidFile != "" {
		pf, err := lockPIDFile(a.pidFile)
		if err != nil {
			return err
		}
		defer pf.release()
	}
	return serveAgent(ctx, a.front, a.log, s.environ(), func(ctx context.Context, ln net.Listener) error {
		done := make(chan error, 1)
		go func() { done <- a.front.Serve(ctx, ln) }()
		a.log.Info("configuration loaded", "file", file, "services", len(a.running), "addr", ln.Addr().String(), "pid_file", a.pidFile)
		for {
			select {
			case err := <-done:
				return err
			case <-hup:
				a.logReload(a.reload(ctx))
			}
		}
	})
}

// pidFileName is the pid file's name in a runtime directory.
const pidFileName = "scproxy.pid"

// pidFilePath is the pid file: the one given, else in the service's
// runtime directory (systemd's RuntimeDirectory=), else in the user's;
// "" when there is none.
func pidFilePath(given []string, getenv func(string) string) string {
	if len(given) > 0 && given[0] != "" {
		return given[0]
	}
	if dir, _, _ := strings.Cut(getenv("RUNTIME_DIRECTORY"), ":"); dir != "" {
		return filepath.Join(dir, pidFileName)
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, pidFileName)
	}
	return ""
}

// pidFile is the pid file an agent holds while it runs.
type pidFile struct {
	path string
	// f is the open file, whose lock the agent holds (nil where there is
	// no lock).
	f *os.File
}

// errStalePIDFile is heldPID's answer for a file no agent holds.
var errStalePIDFile = errors.New("no scproxy holds it (the agent is not running)")

// writePID replaces what f holds with this process's id.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the process id in f, from its start.
func readPID(f *os.File) (int, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errors.New("no process id in it")
	}
	return pid, nil
}
