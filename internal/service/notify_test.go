package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// notifySocket is a fake service manager: a unixgram socket in a
// temporary directory, which NOTIFY_SOCKET names.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

// received reads one notification, waiting at most d.
func received(t *testing.T, c *net.UnixConn, d time.Duration) (string, bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// TestReadyOnlyOnceListening runs the agent against a fake notify
// socket: READY=1 arrives only after the listener accepts connections,
// and STOPPING=1 when the agent is told to stop.
func TestReadyOnlyOnceListening(t *testing.T) {
	sock, path := notifySocket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bind := make(chan struct{})
	var addr string
	a := Agent{Getenv: mapEnv{"NOTIFY_SOCKET": path}.get}
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, func(ctx context.Context, ready func(string)) error {
			<-bind // the test first checks that nothing was said yet
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			addr = ln.Addr().String()
			ready(addr)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte("hello"))
					c.Close()
				}
			}()
			<-ctx.Done()
			return nil
		})
	}()
	if msg, ok := received(t, sock, 100*time.Millisecond); ok {
		t.Fatalf("notified %q before the listener was bound", msg)
	}
	close(bind)
	msg, ok := received(t, sock, 10*time.Second)
	if !ok || !strings.HasPrefix(msg, "READY=1\n") {
		t.Fatalf("got %q, want READY=1", msg)
	}
	if !strings.Contains(msg, "STATUS=listening on "+addr) {
		t.Errorf("READY without the address: %q", msg)
	}
	// Once READY=1 has arrived, a connection is accepted and served.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 but the listener refuses: %v", err)
	}
	b := make([]byte, 5)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(b); err != nil || string(b) != "hello" {
		t.Errorf("READY=1 but the listener does not serve: %q, %v", b, err)
	}
	c.Close()
	cancel()
	msg, ok = received(t, sock, 10*time.Second)
	if !ok || !strings.HasPrefix(msg, "STOPPING=1") {
		t.Errorf("got %q at shutdown, want STOPPING=1", msg)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNoReadyWhenListenFails: an agent that cannot bind never says it is
// ready, and its error is returned.
func TestNoReadyWhenListenFails(t *testing.T) {
	sock, path := notifySocket(t)
	errBind := errors.New("listen on 127.0.0.1:1: address in use")
	a := Agent{Getenv: mapEnv{"NOTIFY_SOCKET": path}.get}
	err := a.Run(context.Background(), func(context.Context, func(string)) error { return errBind })
	if !errors.Is(err, errBind) {
		t.Fatalf("got %v, want the bind error", err)
	}
	for {
		msg, ok := received(t, sock, 200*time.Millisecond)
		if !ok {
			break
		}
		if strings.Contains(msg, "READY=1") {
			t.Fatalf("READY=1 although the listener never bound: %q", msg)
		}
	}
}

// TestWatchdog: WATCHDOG=1 at half of WATCHDOG_USEC while the agent is
// healthy, none while it is not, none for another process's watchdog.
func TestWatchdog(t *testing.T) {
	sock, path := notifySocket(t)
	const pid = 4242
	env := mapEnv{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": strconv.Itoa(pid)}
	n, err := NewNotifier(env.get, pid)
	if err != nil {
		t.Fatal(err)
	}
	if n.WatchdogInterval() != 30*time.Second {
		t.Fatalf("interval %v", n.WatchdogInterval())
	}
	var sick atomic.Bool
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Watchdog(ctx, func(context.Context) error {
				if sick.Load() {
					return errors.New("listener gone")
				}
				return nil
			}, nil)
		}()
		time.Sleep(100 * time.Second) // pings at 15, 30, 45, ... 90 s: 6
		synctest.Wait()
		sick.Store(true)
		time.Sleep(60 * time.Second) // none
		synctest.Wait()
		cancel()
		<-done
	})
	pings := 0
	for {
		msg, ok := received(t, sock, 100*time.Millisecond)
		if !ok {
			break
		}
		if msg != "WATCHDOG=1" {
			t.Errorf("unexpected %q", msg)
		}
		pings++
	}
	if pings != 6 {
		t.Errorf("%d pings in 100 s healthy and 60 s sick at a 30 s watchdog, want 6", pings)
	}

	other, err := NewNotifier(mapEnv{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}.get, pid)
	if err != nil || other.WatchdogInterval() != 0 {
		t.Errorf("another process's watchdog: %v, %v", other.WatchdogInterval(), err)
	}
}

func TestNotifierEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  mapEnv
		want string
	}{
		{"relative socket", mapEnv{"NOTIFY_SOCKET": "notify"}, "NOTIFY_SOCKET"},
		{"bad watchdog", mapEnv{"NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "soon"}, "WATCHDOG_USEC"},
	} {
		if _, err := NewNotifier(tc.env.get, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	n, err := NewNotifier(mapEnv{}.get, 1)
	if err != nil || n.Enabled() || n.Notify(context.Background(), "READY=1") != nil {
		t.Errorf("outside systemd: %v %v", n.Enabled(), err)
	}
	abs, err := NewNotifier(mapEnv{"NOTIFY_SOCKET": "@scproxy-test"}.get, 1)
	if err != nil || abs.addr.Name != "\x00scproxy-test" {
		t.Errorf("abstract socket: %+v, %v", abs, err)
	}
}
