//go:build unix

package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReloadStalePIDFile: a pid file no agent holds, left by one that
// was killed, names a process id now given to another program; reload
// refuses it and that program gets no signal.
func TestReloadStalePIDFile(t *testing.T) {
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Skipf("no program to stand for another one: %v", err)
	}
	pidFile := t.TempDir() + "/scproxy.pid"
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	code := Main(context.Background(), []string{"reload", "--pid-file", pidFile}, Streams{Out: &errOut, Err: &errOut, Getenv: mapEnv(nil)})
	if want := "stale pid file " + pidFile + ": no scproxy holds it (the agent is not running)"; code != ExitError || !strings.Contains(errOut.String(), want) {
		t.Errorf("reload: exit %d: %s; want exit %d saying %q", code, errOut.String(), ExitError, want)
	}
	// The process ends by our SIGKILL, not by a SIGHUP sent before it
	// (the first fatal signal sent is the one its status reports).
	if err := other.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := other.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("sleep: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the other program ended with %v, want killed by SIGKILL: reload signalled it", err)
	}
}

// TestPIDFileHeldByOneAgent: an agent takes over a stale pid file and
// holds it while it runs; a second agent given the same pid file refuses
// to start, naming the file and the agent holding it, and leaves the
// file alone; reload still reaches the first; the file is gone after it.
func TestPIDFileHeldByOneAgent(t *testing.T) {
	rig := newReloadRig(t)
	path, pidFile := rig.dir+"/scproxy.yaml", rig.dir+"/scproxy.pid"
	rig.pidFile = pidFile
	rig.write(t, path, []testService{{name: "a", kind: kindUsernameEnv, sc: "1.3"}})
	// Left by an agent that was killed.
	if err := os.WriteFile(pidFile, []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, logs, done := runAgent(ctx, t, path)
	ours := strconv.Itoa(os.Getpid()) + "\n"
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != ours {
		t.Fatalf("pid file: %q, %v; want %q", b, err, ours)
	}

	var errOut bytes.Buffer
	s := Streams{Out: &errOut, Err: &errOut, Getenv: mapEnv(map[string]string{"PW": canary})}
	want := "pid file " + pidFile + " is held by another scproxy (pid " + strconv.Itoa(os.Getpid()) + ")"
	// Bounded: a second agent that starts runs until its context ends.
	second, stopSecond := context.WithTimeout(ctx, 10*time.Second)
	defer stopSecond()
	if code := Main(second, []string{"run", "--config", path}, s); code != ExitError || !strings.Contains(errOut.String(), want) {
		t.Errorf("second agent: exit %d: %s; want it refused saying %q", code, errOut.String(), want)
	}
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != ours {
		t.Errorf("pid file after the refused agent: %q, %v; want %q", b, err, ours)
	}

	errOut.Reset()
	if code := Main(ctx, []string{"reload", "--pid-file", pidFile}, s); code != ExitOK {
		t.Fatalf("reload: exit %d: %s", code, errOut.String())
	}
	logs.waitFor(t, "configuration reloaded", 1)
	stopCommand(t, cancel, done, ExitOK, logs)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after the run: %v", err)
	}
}

// TestPIDFileReleasedWhenStillOurs: at exit the agent removes the pid
// file it locked, but not a file another agent made at the same path
// after this one's was removed, and the path can be locked again.
func TestPIDFileReleasedWhenStillOurs(t *testing.T) {
	path := t.TempDir() + "/scproxy.pid"
	pf, err := lockPIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pf.release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("our pid file is left after release: %v", err)
	}

	if pf, err = lockPIDFile(path); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pf.release()
	if b, err := os.ReadFile(path); err != nil || string(b) != "4242\n" {
		t.Errorf("another agent's pid file after release: %q, %v; want it left alone", b, err)
	}
}

// TestPIDFileWaitsOutAReloadCheck: reload holds a shared lock on the pid
// file for an instant while it checks it; an agent starting then takes
// the file once the check is over rather than refusing to start, while a
// lock held all along (another agent) is refused after the last try.
func TestPIDFileWaitsOutAReloadCheck(t *testing.T) {
	path := t.TempDir() + "/scproxy.pid"
	if err := os.WriteFile(path, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if err := unix.Flock(int(check.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	waits := 0
	pf, err := lockPIDFileWaiting(path, func() {
		if waits++; waits == 1 {
			_ = unix.Flock(int(check.Fd()), unix.LOCK_UN) // the check is over
		}
	})
	if err != nil || waits != 1 {
		t.Fatalf("lock after a reload's check: %v after %d waits; want the file after one", err, waits)
	}
	pf.release()

	held, err := lockPIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.release()
	waits = 0
	if _, err := lockPIDFileWaiting(path, func() { waits++ }); err == nil || !strings.Contains(err.Error(), "held by another scproxy") || waits != pidLockTries-1 {
		t.Fatalf("a file another agent holds: %v after %d waits; want a refusal after %d", err, waits, pidLockTries-1)
	}
}
