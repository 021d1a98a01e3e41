// Package keyringtest runs a real Secret Service for tests: a private
// D-Bus session bus (dbus-daemon) with gnome-keyring-daemon on it, its
// login keyring created and unlocked in a temporary home. Tests use it
// instead of the developer's own keyring, which they never touch.
package keyringtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Session is a running private bus with a Secret Service.
type Session struct {
	// Addr is the bus address, for DBUS_SESSION_BUS_ADDRESS.
	Addr string
	// Env is what a child process needs to use this keyring (and only
	// it): the bus address, and a home of its own.
	Env []string

	dir   string
	procs []*exec.Cmd
}

// ErrMissing says the programs are not installed.
var ErrMissing = errors.New("keyringtest: dbus-daemon or gnome-keyring-daemon not installed (Debian: dbus, gnome-keyring, libsecret-tools)")

// Start starts the bus and the keyring. Close stops them.
func Start() (*Session, error) {
	for _, p := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, ErrMissing
		}
	}
	dir, err := os.MkdirTemp("", "scproxy-keyring-")
	if err != nil {
		return nil, err
	}
	s := &Session{dir: dir}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) start() error {
	home := filepath.Join(s.dir, "home")
	run := filepath.Join(s.dir, "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// A bus configuration of our own, without service directories: this
	// bus can start nothing on demand, so no daemon but ours ever runs on
	// it (the standard session configuration would activate the user's
	// gnome-keyring, in the user's real home, on the first query).
	conf := filepath.Join(s.dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig(filepath.Join(s.dir, "bus"))), 0o600); err != nil {
		return err
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	out, err := bus.StdoutPipe()
	if err != nil {
		return err
	}
	if err := bus.Start(); err != nil {
		return fmt.Errorf("keyringtest: dbus-daemon: %w", err)
	}
	s.procs = append(s.procs, bus)
	line, err := readLine(out, 5*time.Second)
	if err != nil {
		return fmt.Errorf("keyringtest: dbus-daemon printed no address: %w", err)
	}
	s.Addr = line
	s.Env = []string{"DBUS_SESSION_BUS_ADDRESS=" + s.Addr, "HOME=" + home, "XDG_RUNTIME_DIR=" + run,
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"), "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	gk := exec.Command("gnome-keyring-daemon", "--foreground", "--components=secrets", "--unlock")
	gk.Env = append(os.Environ(), s.Env...)
	gk.Stdin = strings.NewReader("keyringtest")
	if err := gk.Start(); err != nil {
		return fmt.Errorf("keyringtest: gnome-keyring-daemon: %w", err)
	}
	s.procs = append(s.procs, gk)
	return s.waitReady(10 * time.Second)
}

// waitReady waits until the Secret Service owns its name and the login
// keyring exists.
func (s *Session) waitReady(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if ready(ctx, s.Addr) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("keyringtest: the Secret Service did not come up")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, addr string) bool {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return false
	}
	defer conn.Close()
	v, err := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").GetProperty("org.freedesktop.Secret.Service.Collections")
	if err != nil {
		return false
	}
	paths, _ := v.Value().([]dbus.ObjectPath)
	for _, p := range paths {
		if p == "/org/freedesktop/secrets/collection/login" {
			return true
		}
	}
	return false
}

// busConfig is a session bus that listens on path and allows everything
// but activation.
func busConfig(path string) string {
	return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=` + path + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
}

func readLine(r interface{ Read([]byte) (int, error) }, d time.Duration) (string, error) {
	ch := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
		close(ch)
	}()
	select {
	case l, ok := <-ch:
		if !ok || l == "" {
			return "", errors.New("no output")
		}
		return l, nil
	case <-time.After(d):
		return "", errors.New("timed out")
	}
}

// Close stops the keyring and the bus and removes their files.
func (s *Session) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	s.procs = nil
	os.RemoveAll(s.dir)
}

// Need skips t when the keyring could not be started because its
// programs are missing and CI is unset; any other failure, or a missing
// program under CI, fails the test.
func Need(t testing.TB, s *Session, err error) *Session {
	t.Helper()
	switch {
	case err == nil && s != nil:
		return s
	case errors.Is(err, ErrMissing) && os.Getenv("CI") == "":
		t.Skip(err.Error())
	case err == nil:
		err = errors.New("keyringtest: not started")
	}
	t.Fatal(err)
	return nil
}

// shared is the keyring of the test binary that called Run.
var (
	shared    *Session
	sharedErr error
)

// Run is the body of a TestMain whose tests use the keyring in-process.
// The D-Bus library keeps one session connection per process, so the bus
// is chosen once, before any test: a private keyring when one starts,
// else no bus at all, never the developer's own. It returns the exit
// code.
func Run(m *testing.M) int {
	shared, sharedErr = Start()
	if sharedErr == nil {
		os.Setenv("DBUS_SESSION_BUS_ADDRESS", shared.Addr)
		defer shared.Close()
	} else {
		fmt.Fprintln(os.Stderr, "keyringtest:", sharedErr)
		os.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
		dir, err := os.MkdirTemp("", "scproxy-nobus-")
		if err == nil {
			os.Setenv("XDG_RUNTIME_DIR", dir)
			defer os.RemoveAll(dir)
		}
	}
	return m.Run()
}

// Shared returns the keyring Run started, skipping or failing t as Need
// does when there is none.
func Shared(t testing.TB) *Session {
	t.Helper()
	return Need(t, shared, sharedErr)
}
