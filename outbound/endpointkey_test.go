package outbound

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/scproxy/scproxy/wire/secure"
)

// Every profile names an endpoint the same way: the target without its
// query and fragment.
func TestEndpointKey(t *testing.T) {
	tests := []struct{ target, want string }{
		{"https://svc.example/Echo.svc", "https://svc.example/Echo.svc"},
		{"https://svc.example/Echo.svc?wsdl", "https://svc.example/Echo.svc"},
		{"https://svc.example/Echo.svc?", "https://svc.example/Echo.svc"},
		{"https://svc.example/Echo.svc#part", "https://svc.example/Echo.svc"},
		{"https://svc.example/Echo.svc?a=1#part", "https://svc.example/Echo.svc"},
		{"https://svc.example:8443/a%2Fb/Echo.svc?a=1", "https://svc.example:8443/a%2Fb/Echo.svc"},
		{"http://svc.example/Other.svc", "http://svc.example/Other.svc"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			u, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			orig := *u
			key, ep := endpointKey(u)
			if key != tt.want || ep.String() != tt.want {
				t.Errorf("endpointKey = %q, %q; want %q", key, ep, tt.want)
			}
			if *u != orig {
				t.Errorf("endpointKey changed its argument to %v", u)
			}
		})
	}
}

// The x509 profile counts messages per endpoint by the same key as the
// contexts: queries and fragments do not make endpoints of their own, and
// endpoints past the limit share one entry.
func TestCertSignerCountsByEndpointKey(t *testing.T) {
	s := &certSigner{max: 2, counts: map[string]int64{}}
	for _, target := range []string{
		"https://svc.example/A.svc",
		"https://svc.example/A.svc?x=1",
		"https://svc.example/A.svc#frag",
		"https://svc.example/B.svc?y=2#frag",
		"https://svc.example/C.svc",
		"https://svc.example/D.svc?z",
	} {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		s.count(u)
	}
	got := s.signed()
	want := []SignedCount{
		{Endpoint: otherEndpoints, Requests: 2},
		{Endpoint: "https://svc.example/A.svc", Requests: 3},
		{Endpoint: "https://svc.example/B.svc", Requests: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("signed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("signed[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The securer is chosen from the configuration, one per profile.
func TestNewSecurer(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want securer
	}{
		{"none", Config{Security: SecurityNone, Profile: ProfileX509}, passThrough{}},
		{"sc-tls", Config{Security: SecurityContext, Profile: ProfileSCOverTLS}, contextSecurer{}},
		{"x509", Config{Security: SecurityContext, Profile: ProfileX509, Certificate: &secure.Certificate{}}, (*certSigner)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newSecurer(&Proxy{cfg: tt.cfg})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tt.want) {
				t.Errorf("newSecurer = %T, want %T", got, tt.want)
			}
		})
	}
}
