package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends the service manager the agent's state over the
// sd_notify(3) protocol: one datagram per message to the Unix socket
// NOTIFY_SOCKET names. A Notifier made outside systemd (no NOTIFY_SOCKET)
// sends nothing.
type Notifier struct {
	addr     *net.UnixAddr // nil: not under a manager that listens
	watchdog time.Duration // the manager's watchdog interval; 0: none
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through
// getenv; pid is this process's, so that a watchdog meant for another
// process (WATCHDOG_PID) is not fed. A socket name starting with @ is in
// the abstract namespace.
func NewNotifier(getenv func(string) string, pid int) (*Notifier, error) {
	n := &Notifier{}
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return n, nil
	}
	if !strings.HasPrefix(sock, "/") && !strings.HasPrefix(sock, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: want an absolute path or an abstract socket (@name)", sock)
	}
	name := sock
	if sock[0] == '@' {
		name = "\x00" + sock[1:]
	}
	n.addr = &net.UnixAddr{Name: name, Net: "unixgram"}
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return n, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return n, nil // the watchdog is another process's
	}
	us, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || us <= 0 {
		return nil, fmt.Errorf("WATCHDOG_USEC %q: want a positive number of microseconds", usec)
	}
	n.watchdog = time.Duration(us) * time.Microsecond
	return n, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.addr != nil }

// WatchdogInterval is the manager's watchdog interval (0: none). The
// agent pings at half of it.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// Notify sends state, newline-separated VARIABLE=value assignments, in
// one datagram; without a manager it does nothing.
func (n *Notifier) Notify(ctx context.Context, state string) error {
	if n.addr == nil {
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unixgram", n.addr.String())
	if err != nil {
		return fmt.Errorf("notify the service manager: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify the service manager: %w", err)
	}
	return nil
}

// Messages of the notification protocol (sd_notify(3)).
const (
	notifyReady    = "READY=1"
	notifyStopping = "STOPPING=1"
	notifyWatchdog = "WATCHDOG=1"
)

// Ready tells the manager that the agent serves; status is shown by
// `systemctl status`.
func (n *Notifier) Ready(ctx context.Context, status string) error {
	return n.Notify(ctx, notifyReady+"\nSTATUS="+oneLine(status))
}

// Stopping tells the manager that shutdown has begun.
func (n *Notifier) Stopping(ctx context.Context) error {
	return n.Notify(ctx, notifyStopping+"\nSTATUS=shutting down")
}

// Watchdog pings the manager at half its watchdog interval until ctx
// ends, each time healthy (nil: always) says the agent is well; an
// unhealthy agent is not pinged, so that the manager restarts it. Without
// a watchdog it returns at once. One goroutine runs it.
func (n *Notifier) Watchdog(ctx context.Context, healthy func(context.Context) error, log *slog.Logger) {
	if n.addr == nil || n.watchdog <= 0 {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if healthy != nil {
			if err := healthy(ctx); err != nil {
				log.Warn("not feeding the service manager's watchdog: the agent is unwell", "err", err)
				continue
			}
		}
		if err := n.Notify(ctx, notifyWatchdog); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("watchdog ping failed", "err", err)
		}
	}
}

// oneLine keeps a status message to one line: a newline would start
// another assignment.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }
