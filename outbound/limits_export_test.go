package outbound

// OpenConns is the number of application connections open on the
// listener served last.
func (p *Proxy) OpenConns() int64 {
	if l := p.conns.Load(); l != nil {
		return l.open.Load()
	}
	return 0
}

// BodyBytesInFlight is what the request bodies in flight hold of the
// budget.
func (p *Proxy) BodyBytesInFlight() int64 { return p.bodies.used.Load() }
