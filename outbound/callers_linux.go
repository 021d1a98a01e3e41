package outbound

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// peerUIDKnown says that peerUID can tell a connection's peer's uid here.
const peerUIDKnown = true

// peerUID finds the uid that owns the peer socket of a TCP connection
// whose ends are local (the proxy's) and peer. A connection on this host
// has both its sockets in the kernel's tables, /proc/net/tcp and
// /proc/net/tcp6, where the peer's is the line whose local address is
// peer and whose remote address is local, and its uid column is the
// socket's owner. A line without an inode is a connection being closed
// that no process owns any more (TIME_WAIT, orphans, uid 0), and does
// not count. found is false when no line matches: the peer is on
// another host, or has closed its socket.
func peerUID(local, peer netip.AddrPort) (uid int, found bool, err error) {
	for _, t := range procTables(local, peer) {
		uid, found, err := scanProcTable(t.file, t.key)
		if err != nil || found {
			return uid, found, err
		}
	}
	return 0, false, nil
}

// procTable is a table to search and the "local remote" pair of the
// peer's line in it.
type procTable struct{ file, key string }

// procTables lists where the peer's socket may be: an IPv4 peer in
// /proc/net/tcp, or in /proc/net/tcp6 as an IPv4-mapped address when its
// socket is IPv6; an IPv6 peer in /proc/net/tcp6.
func procTables(local, peer netip.AddrPort) []procTable {
	l, p := local.Addr().Unmap(), peer.Addr().Unmap()
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	var out []procTable
	if l.Is4() && p.Is4() {
		out = append(out, procTable{"/proc/net/tcp", procAddr(p, peer.Port()) + " " + procAddr(l, local.Port())})
		l, p = mapped(l), mapped(p)
	}
	return append(out, procTable{"/proc/net/tcp6", procAddr(p, peer.Port()) + " " + procAddr(l, local.Port())})
}

// procAddr writes an address as the tables do: each 32-bit word of the
// address in the host's byte order, in hexadecimal, then the port.
func procAddr(a netip.Addr, port uint16) string {
	var b strings.Builder
	raw := a.AsSlice()
	for i := 0; i < len(raw); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(raw[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", port)
	return b.String()
}

// scanProcTable returns the uid of the line of file whose addresses are
// key.
func scanProcTable(file, key string) (uid int, found bool, err error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return 0, false, nil // no IPv6 here
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[1]+" "+fields[2] != key || fields[9] == "0" {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return 0, false, fmt.Errorf("%s: uid %q", file, fields[7])
		}
		return uid, true, nil
	}
	return 0, false, sc.Err()
}
