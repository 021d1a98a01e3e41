package service

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Systemd manages the service as a systemd unit through systemctl.
type Systemd struct{ Env Env }

// hardening is the sandbox of a system unit, each directive checked
// against what scproxy needs: it reads its configuration, CA files and
// credentials, listens on TCP or a Unix socket, calls upstreams over TCP,
// asks the kernel's socket diagnostics (netlink) which user owns a
// calling connection, and writes nothing but its Unix socket (in
// RuntimeDirectory). No PrivateUsers=: in a user namespace the socket
// diagnostics would show every other user as the overflow uid, and the
// --allow-uid check would refuse them.
var hardening = []string{
	"NoNewPrivileges=yes",
	"ProtectSystem=strict",
	"ProtectHome=yes",
	"PrivateTmp=yes",
	"PrivateDevices=yes",
	"DevicePolicy=closed",
	"ProtectKernelTunables=yes",
	"ProtectKernelModules=yes",
	"ProtectKernelLogs=yes",
	"ProtectControlGroups=yes",
	"ProtectClock=yes",
	"ProtectHostname=yes",
	"ProtectProc=invisible",
	"ProcSubset=pid",
	"RestrictNamespaces=yes",
	"RestrictRealtime=yes",
	"RestrictSUIDSGID=yes",
	"LockPersonality=yes",
	"MemoryDenyWriteExecute=yes",
	"RemoveIPC=yes",
	"CapabilityBoundingSet=",
	"AmbientCapabilities=",
	"# AF_NETLINK: the caller check asks the kernel's socket diagnostics.",
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	"SystemCallArchitectures=native",
	"SystemCallFilter=@system-service",
	"SystemCallFilter=~@privileged",
	"SystemCallErrorNumber=EPERM",
}

// userHardening is what of the sandbox an unprivileged user manager can
// apply without a user namespace (which would hide the callers' uids).
var userHardening = []string{
	"NoNewPrivileges=yes",
	"RestrictRealtime=yes",
	"RestrictSUIDSGID=yes",
	"LockPersonality=yes",
	"MemoryDenyWriteExecute=yes",
	"# AF_UNIX also reaches the session bus, where the keyring is.",
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	"SystemCallArchitectures=native",
	"SystemCallFilter=@system-service",
	"SystemCallFilter=~@privileged",
	"SystemCallErrorNumber=EPERM",
}

// Unit is the text of the systemd unit for s.
func (Systemd) Unit(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(l ...string) {
		for _, x := range l {
			b.WriteString(x + "\n")
		}
	}
	line("# Written by `scproxy service install`; `scproxy service uninstall` removes it.",
		"[Unit]",
		"Description="+Description,
		"Documentation=man:scproxy-run(1)",
		"Wants=network-online.target",
		"After=network-online.target",
		"",
		"[Service]",
		"# READY=1 once the listener is bound; WATCHDOG=1 at half of WatchdogSec.",
		"Type=notify",
		"NotifyAccess=main",
		"ExecStart="+execLine(s.Executable, s.Args),
		"# SIGHUP makes the agent read its configuration file again.",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"RestartSec=5s",
		"WatchdogSec="+seconds(s.watchdog()),
		"TimeoutStopSec="+seconds(s.stopTimeout()),
		"# Logs go to stderr, which the journal keeps, in run's --log-format.",
		"StandardError=journal",
		"UMask=0077",
		"LimitCORE=0",
	)
	if len(s.Credentials) > 0 {
		line("# Secrets: each is $CREDENTIALS_DIRECTORY/NAME to the agent (run --systemd-credential NAME).")
		for _, c := range s.Credentials {
			// % starts a specifier in a unit file; a path means itself.
			line("LoadCredential=" + c.Name + ":" + strings.ReplaceAll(c.Path, "%", "%%"))
		}
	}
	if s.Scope == User {
		line(userHardening...)
		line("", "[Install]", "WantedBy=default.target")
		return b.String(), nil
	}
	line("# A system service has no user session: the OS keyring (Secret Service",
		"# over the session's D-Bus) is out of its reach. Secrets come through",
		"# LoadCredential=, which also lets a file only root reads reach DynamicUser.",
		"# Applications calling from other users need run's --allow-uid.",
		"DynamicUser=yes",
		"RuntimeDirectory="+s.Name,
		"RuntimeDirectoryMode=0755",
	)
	line(hardening...)
	line("", "[Install]", "WantedBy=multi-user.target")
	return b.String(), nil
}

// execLine quotes a command line for ExecStart= (systemd.service(5),
// "Command lines"): each word in double quotes when it needs them, with
// $ and % (variable and specifier expansion) doubled.
func execLine(exe string, args []string) string {
	words := make([]string, 0, 1+len(args))
	for _, w := range append([]string{exe}, args...) {
		w = strings.NewReplacer("$", "$$", "%", "%%").Replace(w)
		if w == "" || strings.ContainsAny(w, " \t\"'\\;") {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// seconds writes d as systemd does.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", int64((d+time.Second-1)/time.Second))
}

// unitPath is where the unit of s goes.
func (m Systemd) unitPath(s Spec) (string, error) {
	if s.Scope == User {
		dir, err := m.Env.xdg("XDG_CONFIG_HOME", ".config")
		if err != nil {
			return "", err
		}
		return m.Env.path(filepath.Join(dir, "systemd", "user", s.Name+".service")), nil
	}
	return m.Env.path(filepath.Join("/etc/systemd/system", s.Name+".service")), nil
}

// Definition is the unit and its path.
func (m Systemd) Definition(s Spec) (string, string, error) {
	text, err := m.Unit(s)
	if err != nil {
		return "", "", err
	}
	path, err := m.unitPath(s)
	return path, text, err
}

// systemctl runs systemctl on s's unit (with --user for a user unit).
func (m Systemd) systemctl(ctx context.Context, s Spec, verb ...string) (string, error) {
	args := verb
	if s.Scope == User {
		args = append([]string{"--user"}, verb...)
	}
	return m.Env.run(ctx, "systemctl", args...)
}

// Install writes the unit, reloads the manager and enables the unit.
func (m Systemd) Install(ctx context.Context, s Spec) error {
	path, text, err := m.Definition(s)
	if err != nil {
		return err
	}
	if err := writeFile(path, text); err != nil {
		return fmt.Errorf("writing the unit: %w", err)
	}
	if _, err := m.systemctl(ctx, s, "daemon-reload"); err != nil {
		return err
	}
	_, err = m.systemctl(ctx, s, "enable", s.Name+".service")
	return err
}

// Uninstall stops and disables the unit, removes it and reloads.
func (m Systemd) Uninstall(ctx context.Context, s Spec) error {
	path, err := m.unitPath(s)
	if err != nil {
		return err
	}
	if _, err := m.systemctl(ctx, s, "disable", "--now", s.Name+".service"); err != nil {
		return err
	}
	if err := removeFile(path); err != nil {
		return fmt.Errorf("removing the unit: %w", err)
	}
	_, err = m.systemctl(ctx, s, "daemon-reload")
	return err
}

// Start starts the unit; systemctl returns once the agent is ready.
func (m Systemd) Start(ctx context.Context, s Spec) error {
	_, err := m.systemctl(ctx, s, "start", s.Name+".service")
	return err
}

// Stop stops the unit.
func (m Systemd) Stop(ctx context.Context, s Spec) error {
	_, err := m.systemctl(ctx, s, "stop", s.Name+".service")
	return err
}

// Status is systemctl status. Its exit status says the unit is not
// running (3) or unknown (4): the text says that too, and is the answer.
func (m Systemd) Status(ctx context.Context, s Spec) (string, error) {
	out, err := m.systemctl(ctx, s, "status", "--no-pager", s.Name+".service")
	if err != nil && strings.TrimSpace(out) != "" {
		return out, nil
	}
	return out, err
}

// ManDir is /usr/local/share/man/man1 for the system, the user's
// $XDG_DATA_HOME/man/man1 (which man(1) searches) for a user.
func (m Systemd) ManDir(scope Scope) string {
	if scope == User {
		dir, err := m.Env.xdg("XDG_DATA_HOME", ".local/share")
		if err != nil {
			return ""
		}
		return m.Env.path(filepath.Join(dir, "man", "man1"))
	}
	return m.Env.path("/usr/local/share/man/man1")
}

// ConfigPath is /etc/scproxy/config.yaml, or the user's
// $XDG_CONFIG_HOME/scproxy/config.yaml.
func (m Systemd) ConfigPath(scope Scope) string {
	if scope == User {
		if dir, err := m.Env.xdg("XDG_CONFIG_HOME", ".config"); err == nil {
			return filepath.Join(dir, "scproxy", "config.yaml")
		}
	}
	return "/etc/scproxy/config.yaml"
}
