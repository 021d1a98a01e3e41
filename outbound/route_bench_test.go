package outbound

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkRoute is the routing step per message: the Host check and the
// longest-prefix lookup, for an origin-form request ("/svcN?op") and a
// forward-proxy one (absolute URI), with 1, 16 and 256 routes (the request
// takes the last route tried, the worst case).
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		cfg := Config{Listen: DefaultListen}
		for i := range n {
			u, _ := url.Parse(fmt.Sprintf("https://svc%d.example.com/Service%d.svc", i, i))
			cfg.Routes = append(cfg.Routes, Route{Prefix: fmt.Sprintf("/svc%d", i), Upstream: u})
		}
		rt := newRouter(&cfg)
		last := rt.routes[len(rt.routes)-1]
		requests := map[string]*http.Request{
			"origin":   httptest.NewRequest(http.MethodPost, last.Prefix+"?id=7", nil),
			"absolute": httptest.NewRequest(http.MethodPost, "http://"+last.Upstream.Host+last.Upstream.Path, nil),
		}
		for _, form := range []string{"origin", "absolute"} {
			r := requests[form]
			r.Host = "127.0.0.1:8780"
			b.Run(fmt.Sprintf("form=%s/routes=%d", form, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !rt.hostAllowed(r) {
						b.Fatal("host refused")
					}
					if _, ok := rt.target(r); !ok {
						b.Fatal("no route")
					}
				}
			})
		}
	}
}
