package outbound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerUIDKnown says that peerUID can tell a connection's peer's uid here.
const peerUIDKnown = true

// peerUID finds the uid that owns the peer socket of a TCP connection
// whose ends are local (the proxy's) and peer. A connection on this host
// has both its sockets in the kernel's tables; the peer's is the one
// whose own address is peer and whose remote address is local, and the
// kernel's socket diagnostics (NETLINK_SOCK_DIAG, what ss(8) reads; the
// same table as /proc/net/tcp, looked up by address instead of listed)
// give its owner. A socket without an inode is a connection being
// closed that no process owns any more (TIME_WAIT, orphans), and does
// not count. found is false when there is no such socket: the peer is on
// another host, or has closed its socket.
func peerUID(local, peer netip.AddrPort) (uid int, found bool, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, false, fmt.Errorf("socket diagnostics: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only bounds a kernel
	// without the diagnostics.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}); err != nil {
		return 0, false, fmt.Errorf("socket diagnostics: %w", err)
	}
	l, p := local.Addr().Unmap(), peer.Addr().Unmap()
	if l.Is4() && p.Is4() {
		// An IPv4 peer has an IPv4 socket, or an IPv6 one speaking
		// IPv4-mapped addresses.
		uid, found, err := diagLookup(fd, unix.AF_INET, netip.AddrPortFrom(p, peer.Port()), netip.AddrPortFrom(l, local.Port()))
		if err != nil || found {
			return uid, found, err
		}
		l, p = netip.AddrFrom16(l.As16()), netip.AddrFrom16(p.As16())
	}
	return diagLookup(fd, unix.AF_INET6, netip.AddrPortFrom(p, peer.Port()), netip.AddrPortFrom(l, local.Port()))
}

// Sizes of the kernel's structures (linux/inet_diag.h).
const (
	diagSockIDLen = 48                     // struct inet_diag_sockid
	diagReqLen    = 8 + diagSockIDLen      // struct inet_diag_req_v2
	diagMsgUID    = 4 + diagSockIDLen + 12 // offset of idiag_uid in struct inet_diag_msg
)

// diagLookup asks the kernel for the TCP socket of family whose own
// address is src and remote address dst, and returns its owner's uid.
func diagLookup(fd int, family uint8, src, dst netip.AddrPort) (uid int, found bool, err error) {
	req := make([]byte, unix.NLMSG_HDRLEN+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	r := req[unix.NLMSG_HDRLEN:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], src.Port())
	binary.BigEndian.PutUint16(id[2:], dst.Port())
	copy(id[4:20], src.Addr().AsSlice())
	copy(id[20:36], dst.Addr().AsSlice())
	ne.PutUint32(id[40:], ^uint32(0)) // no cookie to match
	ne.PutUint32(id[44:], ^uint32(0))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, false, fmt.Errorf("socket diagnostics: %w", err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, false, fmt.Errorf("socket diagnostics: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, false, fmt.Errorf("socket diagnostics: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) < 4 {
				return 0, false, errors.New("socket diagnostics: short error")
			}
			code := -int32(ne.Uint32(m.Data))
			if code == 0 || unix.Errno(code) == unix.ENOENT {
				return 0, false, nil
			}
			return 0, false, fmt.Errorf("socket diagnostics: %w", unix.Errno(code))
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(m.Data) < diagMsgUID+8 {
				return 0, false, errors.New("socket diagnostics: short answer")
			}
			if ne.Uint32(m.Data[diagMsgUID+4:]) == 0 { // no inode: nobody owns it
				return 0, false, nil
			}
			return int(ne.Uint32(m.Data[diagMsgUID:])), true, nil
		}
	}
	return 0, false, nil
}
