package outbound

import "time"

// SetListenerTimeouts shortens the local listener's header and request
// timeouts for servers started until restore is called. Tests calling it
// must not run in parallel with others that start servers.
func SetListenerTimeouts(header, request time.Duration) (restore func()) {
	h, r := readHeaderTimeout, readTimeout
	readHeaderTimeout, readTimeout = header, request
	return func() { readHeaderTimeout, readTimeout = h, r }
}
