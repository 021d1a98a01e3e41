package outbound

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/scproxy/scproxy/setting"
)

// DefaultListenUnixMode is the mode of the Unix socket when
// Config.ListenUnixMode is zero: this user's processes only.
const DefaultListenUnixMode fs.FileMode = 0o600

// checkCallers checks the caller-authentication settings: a socket
// mode that lets other users in, or a uid that cannot be one, would
// not authenticate anybody.
func (c *Config) checkCallers() error {
	if c.ListenUnixMode&^0o770 != 0 {
		return setting.Errorf("ListenUnixMode", fmt.Sprintf("%04o", c.ListenUnixMode), "want owner and group bits only (e.g. 0600 or 0660): others could call the proxy")
	}
	for _, uid := range c.AllowUIDs {
		if uid < 0 {
			return setting.Errorf("AllowUIDs", strconv.Itoa(uid), "not a uid")
		}
	}
	return nil
}

// listenUnix listens on a Unix socket at path whose file has mode: it is
// bound in a new directory only this user may enter, given its mode
// there, then linked to path, which must not exist (a socket nobody
// listens on any more is removed first); so no other process can
// connect before the mode applies, and no file is replaced. Closing the
// listener removes path.
func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if mode == 0 {
		mode = DefaultListenUnixMode
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".scproxy-")
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err = os.Chmod(tmp, mode); err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &unixListener{Listener: ln, path: path}, nil
}

// removeStaleSocket removes the socket at path if no process listens on
// it; anything else at path is left and refused.
func removeStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen on %s: the path exists and is not a socket", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("listen on %s: another process listens on it", path)
	}
	return os.Remove(path)
}

// unixListener removes its socket file when closed.
type unixListener struct {
	net.Listener
	path string
	once sync.Once
}

// Addr is the socket's path, not the name it was bound under.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { _ = os.Remove(l.path) })
	return err
}

// guardCallers returns ln limited to the callers the configuration
// allows. A Unix socket is left as it is: its file's mode decides who
// may connect. On TCP, each connection's peer process is found by its
// owner's uid (peerUID) before a byte of it is read, and one whose uid
// is not allowed is closed; where the platform cannot tell the peer's
// uid, every local user may call, and the log says so.
func (p *Proxy) guardCallers(ln net.Listener) net.Listener {
	log := p.cfg.Logger
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return ln
	}
	if p.cfg.AnyLocalUser {
		log.Warn("caller check off: every local user may call the proxy and use its credential")
		return ln
	}
	if !peerUIDKnown {
		log.Warn("caller check not available on this platform: every local user may call the proxy and use its credential; a Unix socket listener (ListenUnix) limits callers by its file mode")
		return ln
	}
	g := &callerGuard{allow: p.allowedUIDs(), remote: p.cfg.AllowRemote, log: log, lookup: peerUID}
	log.Info("callers limited to local users", "uids", g.allow)
	return &callerListener{Listener: ln, g: g}
}

// allowedUIDs returns AllowUIDs, or this process's effective uid.
func (p *Proxy) allowedUIDs() []int {
	if len(p.cfg.AllowUIDs) == 0 {
		return []int{os.Geteuid()}
	}
	return slices.Clone(p.cfg.AllowUIDs)
}

// errCallerRefused is what reading a refused connection returns.
var errCallerRefused = errors.New("caller refused: its local user may not use the proxy")

// callerGuard decides whether a TCP connection's peer may call.
type callerGuard struct {
	allow []int
	// remote allows a peer that is not on this host (AllowRemote): it
	// has no local uid.
	remote bool
	log    *slog.Logger
	lookup func(local, peer netip.AddrPort) (uid int, found bool, err error)
	// refused holds the uids already logged, so that a refused user's
	// every attempt does not add a warning.
	refused sync.Map
}

// admit reports whether the peer of c may call.
func (g *callerGuard) admit(c net.Conn) bool {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	peer, pok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !pok {
		return false
	}
	uid, found, err := g.lookup(local.AddrPort(), peer.AddrPort())
	switch {
	case err != nil:
		g.log.Warn("caller refused: its user could not be found", "peer", peer.String(), "error", err)
		return false
	case !found:
		// Not a socket of this host: a remote caller, allowed only by
		// AllowRemote, and never one on loopback.
		if g.remote && !peer.AddrPort().Addr().Unmap().IsLoopback() {
			return true
		}
		g.log.Warn("caller refused: its socket is not in this host's table", "peer", peer.String())
		return false
	case slices.Contains(g.allow, uid):
		return true
	}
	if _, seen := g.refused.LoadOrStore(uid, true); !seen {
		g.log.Warn("caller refused: its local user may not use the proxy", "uid", uid, "peer", peer.String(), "allowed", g.allow)
	}
	return false
}

// callerListener hands out connections that admit their peer first.
type callerListener struct {
	net.Listener
	g *callerGuard
}

func (l *callerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &callerConn{Conn: c, g: l.g}, nil
}

// callerConn checks its peer on its first read, in the goroutine that
// serves it, so that a slow lookup holds up no other connection; a
// refused peer's connection is closed unread.
type callerConn struct {
	net.Conn
	g    *callerGuard
	once sync.Once
	err  error
}

func (c *callerConn) Read(b []byte) (int, error) {
	c.once.Do(func() {
		if !c.g.admit(c.Conn) {
			c.err = errCallerRefused
			c.Conn.Close()
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

// localCaller reports whether r came from this host: through the Unix
// socket, or from a loopback address.
func localCaller(r *http.Request) bool {
	if _, ok := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); ok {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	return err == nil && isLoopbackHost(host)
}

// CloseWrite half-closes the connection as the TCP connection does:
// net/http closes the write side first when it gives up on a request
// whose body is still arriving, so that the client reads the answer
// before the close resets the connection.
func (c *callerConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
