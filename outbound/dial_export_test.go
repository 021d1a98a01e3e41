package outbound

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/scproxy/scproxy/upstream"
)

// DialUpstreamsWith makes every route's client open its connections with
// dial, keeping the configured TLS roots and limits, so that a test sees
// each connection the proxy makes, whatever host it was for (dial gets
// the address before any name is resolved). Call it before the proxy
// serves.
func DialUpstreamsWith(p *Proxy, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	for u := range p.clients {
		p.clients[u] = upstream.New(upstream.Config{
			Transport: &http.Transport{
				Proxy: nil, DialContext: dial, ForceAttemptHTTP2: true,
				TLSClientConfig: &tls.Config{RootCAs: p.cfg.RootCAs, MinVersion: tls.VersionTLS12},
			},
			Timeout: p.cfg.UpstreamTimeout, MaxBody: p.cfg.MaxBody,
		})
	}
}
