//go:build !linux

package outbound

import "net/netip"

// peerUIDKnown says that this platform cannot tell a TCP peer's uid here:
// the caller check is off, and the log says so.
const peerUIDKnown = false

// peerUID is never called here.
func peerUID(netip.AddrPort, netip.AddrPort) (int, bool, error) { return 0, false, nil }
