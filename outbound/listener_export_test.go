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

// CloseIdleUpstreams closes the idle connections of every upstream client,
// so that a test can count goroutines without the connections' own.
func (p *Proxy) CloseIdleUpstreams() {
	for _, c := range p.clients {
		c.CloseIdle()
	}
	if p.client != nil {
		p.client.CloseIdle()
	}
}
