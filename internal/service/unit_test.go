package service

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
)

// spec is a service as `scproxy service install` makes it.
func spec(scope Scope) Spec {
	return Spec{
		Name: "scproxy", Executable: "/usr/local/bin/scproxy", Scope: scope,
		Args:        []string{"run", "--config", "/etc/scproxy/config.yaml"},
		Credentials: []Credential{{Name: "orders-password", Path: "/etc/scproxy/credentials/orders-password"}},
	}
}

// TestDefinitions compares each manager's definition with its golden
// file: the unit, the property list and the Windows service.
func TestDefinitions(t *testing.T) {
	env := Env{Getenv: mapEnv{"HOME": "/home/alice"}.get, UID: 501}
	for _, tc := range []struct {
		name string
		m    Manager
		s    Spec
		path string
	}{
		{"systemd-system", Systemd{env}, spec(System), "/etc/systemd/system/scproxy.service"},
		{"systemd-user", Systemd{env}, spec(User), "/home/alice/.config/systemd/user/scproxy.service"},
		{"launchd-system", Launchd{env}, spec(System), "/Library/LaunchDaemons/com.github.scproxy.scproxy.plist"},
		{"launchd-user", Launchd{env}, spec(User), "/home/alice/Library/LaunchAgents/com.github.scproxy.scproxy.plist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, text, err := tc.m.Definition(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.path {
				t.Errorf("path %s, want %s", path, tc.path)
			}
			testkit.Golden(t, []byte(text))
		})
	}
	t.Run("windows", func(t *testing.T) {
		text, err := scmDefinition(spec(System))
		if err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, []byte(text))
		if _, err := scmDefinition(spec(User)); err == nil || !strings.Contains(err.Error(), "without --user") {
			t.Errorf("a user-scope Windows service: %v, want a refusal naming --user", err)
		}
	})
}

// TestUnitDirectives checks what the unit must say whatever its golden
// file: readiness, watchdog, credentials, the sandbox scproxy fits in.
func TestUnitDirectives(t *testing.T) {
	s := spec(System)
	s.Watchdog, s.ShutdownTimeout = time.Minute, 90*time.Second
	unit, err := Systemd{}.Unit(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "WatchdogSec=60s", "TimeoutStopSec=105s",
		"ExecStart=/usr/local/bin/scproxy run --config /etc/scproxy/config.yaml",
		"LoadCredential=orders-password:/etc/scproxy/credentials/orders-password",
		"ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
		"CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(unit, want+"\n") && !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(unit, "PrivateUsers") {
		t.Error("PrivateUsers= would hide the callers' uids from the --allow-uid check")
	}
	user, err := Systemd{}.Unit(spec(User))
	if err != nil {
		t.Fatal(err)
	}
	for _, notIn := range []string{"DynamicUser", "ProtectSystem", "multi-user.target"} {
		if strings.Contains(user, notIn) {
			t.Errorf("user unit has %s, which a user manager cannot apply or does not have", notIn)
		}
	}
}

// TestSystemdAnalyzeVerify has systemd check the units it would load.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is required in CI but not installed (apt-get install systemd)")
		}
		t.Skip("systemd-analyze not installed (apt-get install systemd); skipping the unit check")
	}
	exe, err := exec.LookPath("true") // verify wants ExecStart's binary to exist
	if err != nil {
		t.Skip("no true(1) to stand for the binary")
	}
	for _, scope := range []Scope{System, User} {
		t.Run(scope.String(), func(t *testing.T) {
			s := spec(scope)
			s.Executable = exe
			unit, err := Systemd{}.Unit(s)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "scproxy.service")
			if err := os.WriteFile(file, []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "--man=no", file}
			if scope == User {
				args = append([]string{"--user"}, args...)
			}
			cmd := exec.Command(tool, args...)
			rt := filepath.Join(dir, "run")
			if err := os.Mkdir(rt, 0o700); err != nil {
				t.Fatal(err)
			}
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_LEVEL=warning")
			out, err := cmd.CombinedOutput()
			// verify exits 0 after warnings about directives it ignores:
			// any output is a finding.
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func TestExecLineQuoting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "/bin/scproxy run"},
		{[]string{"--config", "/etc/my config.yaml"}, `/bin/scproxy --config "/etc/my config.yaml"`},
		{[]string{`a"b\c`}, `/bin/scproxy "a\"b\\c"`},
		{[]string{"$HOME", "50%"}, "/bin/scproxy $$HOME 50%%"},
		{[]string{""}, `/bin/scproxy ""`},
	} {
		if got := execLine("/bin/scproxy", tc.args); got != tc.want {
			t.Errorf("execLine(%q) = %s, want %s", tc.args, got, tc.want)
		}
	}
}

func TestWindowsQuoting(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`C:\Program Files\scproxy\scproxy.exe`, `"C:\Program Files\scproxy\scproxy.exe"`},
		{`run`, `run`},
		{``, `""`},
		{`a "b"`, `"a \"b\""`},
		{`C:\dir with space\`, `"C:\dir with space\\"`},
		{`x\"y z`, `"x\\\"y z"`},
	} {
		if got := windowsQuote(tc.in); got != tc.want {
			t.Errorf("windowsQuote(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSpecCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"name with slash", func(s *Spec) { s.Name = "../evil" }, "service name"},
		{"relative binary", func(s *Spec) { s.Executable = "scproxy" }, "absolute path"},
		{"credential with colon", func(s *Spec) { s.Credentials = []Credential{{Name: "a:b", Path: "/x"}} }, "credential name"},
		{"relative credential", func(s *Spec) { s.Credentials = []Credential{{Name: "pw", Path: "pw.txt"}} }, "credential pw"},
		{"line break in an argument", func(s *Spec) { s.Args = []string{"run\nExecStartPre=/bin/sh"} }, "line break"},
		// systemd ends a line at a carriage return too.
		{"carriage return in a credential path", func(s *Spec) {
			s.Credentials = []Credential{{Name: "pw", Path: "/etc/x\rExecStartPre=/bin/touch /tmp/pwned"}}
		}, "credential pw"},
		{"carriage return in the binary", func(s *Spec) { s.Executable = "/usr/bin/scproxy\rExecStartPre=/bin/sh" }, "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(System)
			tc.edit(&s)
			_, err := Systemd{}.Unit(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A % in a credential path is the path's own, not a unit specifier.
func TestCredentialPathPercent(t *testing.T) {
	s := spec(System)
	s.Credentials = []Credential{{Name: "pw", Path: "/etc/scproxy/100%h.pw"}}
	unit, err := Systemd{}.Unit(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "LoadCredential=pw:/etc/scproxy/100%%h.pw\n") {
		t.Errorf("the path is not escaped for systemd:\n%s", unit)
	}
}

// TestManagerCommands checks what each manager writes and runs.
func TestManagerCommands(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(Env) Manager
		scope Scope
		file  string
		// install, start, stop, status, uninstall
		want [][]string
	}{
		{"systemd system", func(e Env) Manager { return Systemd{e} }, System, "etc/systemd/system/scproxy.service", [][]string{
			{"systemctl", "daemon-reload"}, {"systemctl", "enable", "scproxy.service"},
			{"systemctl", "start", "scproxy.service"},
			{"systemctl", "stop", "scproxy.service"},
			{"systemctl", "status", "--no-pager", "scproxy.service"},
			{"systemctl", "disable", "--now", "scproxy.service"}, {"systemctl", "daemon-reload"},
		}},
		{"systemd user", func(e Env) Manager { return Systemd{e} }, User, "home/alice/.config/systemd/user/scproxy.service", [][]string{
			{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "scproxy.service"},
			{"systemctl", "--user", "start", "scproxy.service"},
			{"systemctl", "--user", "stop", "scproxy.service"},
			{"systemctl", "--user", "status", "--no-pager", "scproxy.service"},
			{"systemctl", "--user", "disable", "--now", "scproxy.service"}, {"systemctl", "--user", "daemon-reload"},
		}},
		{"launchd user", func(e Env) Manager { return Launchd{e} }, User, "home/alice/Library/LaunchAgents/com.github.scproxy.scproxy.plist", [][]string{
			{"launchctl", "bootstrap", "gui/501", "ROOT/home/alice/Library/LaunchAgents/com.github.scproxy.scproxy.plist"},
			{"launchctl", "kickstart", "-k", "gui/501/com.github.scproxy.scproxy"},
			{"launchctl", "kill", "SIGTERM", "gui/501/com.github.scproxy.scproxy"},
			{"launchctl", "print", "gui/501/com.github.scproxy.scproxy"},
			{"launchctl", "bootout", "gui/501/com.github.scproxy.scproxy"},
		}},
		{"launchd system", func(e Env) Manager { return Launchd{e} }, System, "Library/LaunchDaemons/com.github.scproxy.scproxy.plist", [][]string{
			{"launchctl", "bootstrap", "system", "ROOT/Library/LaunchDaemons/com.github.scproxy.scproxy.plist"},
			{"launchctl", "kickstart", "-k", "system/com.github.scproxy.scproxy"},
			{"launchctl", "kill", "SIGTERM", "system/com.github.scproxy.scproxy"},
			{"launchctl", "print", "system/com.github.scproxy.scproxy"},
			{"launchctl", "bootout", "system/com.github.scproxy.scproxy"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var ran [][]string
			env := Env{
				Root: root, UID: 501, Getenv: mapEnv{"HOME": "/home/alice"}.get,
				Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
					ran = append(ran, append([]string{name}, args...))
					return []byte("ok\n"), nil
				},
			}
			m, ctx, s := tc.make(env), context.Background(), spec(tc.scope)
			if err := m.Install(ctx, s); err != nil {
				t.Fatal(err)
			}
			_, want, _ := m.Definition(s)
			if got, err := os.ReadFile(filepath.Join(root, tc.file)); err != nil || string(got) != want {
				t.Errorf("installed definition at %s: %v, %d bytes, want %d", tc.file, err, len(got), len(want))
			}
			_ = m.Start(ctx, s)
			_ = m.Stop(ctx, s)
			if st, err := m.Status(ctx, s); err != nil || st != "ok\n" {
				t.Errorf("status %q, %v", st, err)
			}
			if err := m.Uninstall(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, tc.file)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("definition left after uninstall: %v", err)
			}
			for _, cmd := range tc.want {
				for i, a := range cmd {
					cmd[i] = strings.Replace(a, "ROOT", root, 1)
				}
			}
			if !reflect.DeepEqual(ran, tc.want) {
				t.Errorf("ran\n%q\nwant\n%q", ran, tc.want)
			}
		})
	}
}

// TestManagerCommandFails: a failing tool's own words reach the user,
// and status reports an inactive unit (systemctl exit 3) as an answer.
func TestManagerCommandFails(t *testing.T) {
	env := Env{Root: t.TempDir(), Run: func(context.Context, string, ...string) ([]byte, error) {
		return []byte("Unit scproxy.service could not be found.\n"), errors.New("exit status 4")
	}}
	m := Systemd{env}
	err := m.Start(context.Background(), spec(System))
	if err == nil || !strings.Contains(err.Error(), "could not be found") || !strings.Contains(err.Error(), "systemctl start") {
		t.Errorf("start: %v, want the command and systemctl's message", err)
	}
	if st, err := m.Status(context.Background(), spec(System)); err != nil || !strings.Contains(st, "could not be found") {
		t.Errorf("status: %q, %v", st, err)
	}
}

// TestPaths: where man pages and the configuration go for each scope.
func TestPaths(t *testing.T) {
	env := Env{Getenv: mapEnv{"HOME": "/home/alice", "XDG_DATA_HOME": "/data"}.get}
	sd, ld := Systemd{env}, Launchd{env}
	for _, tc := range []struct{ got, want string }{
		{sd.ManDir(System), "/usr/local/share/man/man1"},
		{sd.ManDir(User), "/data/man/man1"},
		{sd.ConfigPath(System), "/etc/scproxy/config.yaml"},
		{sd.ConfigPath(User), "/home/alice/.config/scproxy/config.yaml"},
		{ld.ManDir(User), ""},
		{ld.ConfigPath(System), "/usr/local/etc/scproxy/config.yaml"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if _, _, err := (Systemd{Env{}}).Definition(spec(User)); err == nil || !strings.Contains(err.Error(), "HOME") {
		t.Errorf("a user unit without HOME: %v", err)
	}
}

type mapEnv map[string]string

func (m mapEnv) get(k string) string { return m[k] }
