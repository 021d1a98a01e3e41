package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
)

// --endpoint gives a route an endpoint of its own below its upstream
// (the route with the longest prefix it lies below); the idle timeout
// and establishment rate take 0 for "never" and "no bound".
func TestRunEndpointFlags(t *testing.T) {
	cfg, _ := mustConfig(t, baseEnv, cmdline(userPW, []string{
		"--route", "/orders=https://a.example/Orders.svc", "--route", "/orders/v2=https://a.example/V2.svc",
		"--endpoint", "/orders/ep2", "--endpoint", "/orders/v2/bulk", "--endpoint", "/orders/a%2Fb",
		"--endpoint-idle-timeout", "0", "--establish-rate", "5",
	})...)
	want := map[string][]string{"/orders": {"/ep2", "/a%2Fb"}, "/orders/v2": {"/bulk"}}
	for _, r := range cfg.Routes {
		if !slices.Equal(r.Endpoints, want[r.Prefix]) {
			t.Errorf("route %s: endpoints %q, want %q", r.Prefix, r.Endpoints, want[r.Prefix])
		}
	}
	if cfg.EndpointIdleTimeout >= 0 || cfg.EstablishRate != 5 {
		t.Errorf("idle timeout %v, establish rate %d; want never (negative) and 5", cfg.EndpointIdleTimeout, cfg.EstablishRate)
	}
	cfg, _ = mustConfig(t, baseEnv, cmdline(upstream, userPW)...)
	if cfg.EndpointIdleTimeout != outbound.DefaultEndpointIdleTimeout || cfg.EstablishRate != outbound.DefaultEstablishRate {
		t.Errorf("defaults: idle timeout %v, establish rate %d", cfg.EndpointIdleTimeout, cfg.EstablishRate)
	}
	if d := 24 * time.Hour; outbound.DefaultEndpointIdleTimeout != d {
		t.Errorf("DefaultEndpointIdleTimeout %v, the help and README say %v", outbound.DefaultEndpointIdleTimeout, d)
	}
}

func TestRunEndpointFlagsInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"below no route", []string{"--route", "/orders=https://a.example/O.svc", "--endpoint", "/stock/x"}, "--endpoint /stock/x: below no route"},
		{"servlet escape", cmdline(upstream, []string{"--endpoint", "/..;/admin"}), "--endpoint"},
		{"path parameter", cmdline(upstream, []string{"--endpoint", "/ep;x=1"}), "--endpoint"},
		{"twice", cmdline(upstream, []string{"--endpoint", "/ep", "--endpoint", "/ep"}), "given twice"},
		{"negative rate", cmdline(upstream, []string{"--establish-rate", "-1"}), "--establish-rate -1"},
		{"negative idle", cmdline(upstream, []string{"--endpoint-idle-timeout", "-1s"}), "--endpoint-idle-timeout -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, baseEnv, cmdline(userPW, tt.args)...)
			if r.runErr == nil || !strings.Contains(r.runErr.Error(), tt.want) {
				t.Fatalf("run: %v, want an error mentioning %q", r.runErr, tt.want)
			}
		})
	}
}
