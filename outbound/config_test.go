package outbound_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
)

// TestValidateSettingErrors: every setting that cannot work is reported as
// a *setting.Error naming it as Config spells it, with the setting that
// would allow it where one would, and never a URL's password.
func TestValidateSettingErrors(t *testing.T) {
	parse := func(raw string) *url.URL {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	svc := parse("https://svc.example/Echo.svc")
	boot := session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
	valid := func() outbound.Config {
		return outbound.Config{Routes: []outbound.Route{{Prefix: "/", Upstream: svc}}, Bootstrap: boot}
	}
	tests := []struct {
		name   string
		change func(*outbound.Config)
		field  string
		value  string
		allow  string
	}{
		{"listen not host:port", func(c *outbound.Config) { c.Listen = "8780" }, "Listen", "8780", ""},
		{"listen remote", func(c *outbound.Config) { c.Listen = "0.0.0.0:8780" }, "Listen", "0.0.0.0:8780", "AllowRemote"},
		{"no route", func(c *outbound.Config) { c.Routes = nil }, "Routes", "", ""},
		{"route path", func(c *outbound.Config) { c.Routes[0].Prefix = "a" }, "Routes[0].Prefix", "", ""},
		{"route twice", func(c *outbound.Config) { c.Routes = append(c.Routes, c.Routes[0]) }, "Routes[1].Prefix", "/", ""},
		{"upstream scheme", func(c *outbound.Config) { c.Routes[0].Upstream = parse("ftp://svc.example/") }, "Routes[0].Upstream", "ftp://svc.example/", ""},
		{"upstream credentials", func(c *outbound.Config) { c.Routes[0].Upstream = parse("https://u:" + testPassword + "@svc.example/") }, "Routes[0].Upstream", "https://u:xxxxx@svc.example/", ""},
		{"plain http", func(c *outbound.Config) { c.Routes[0].Upstream = parse("http://svc.example/") }, "Routes[0].Upstream", "", "AllowPlainHTTP"},
		{"no bootstrap", func(c *outbound.Config) { c.Bootstrap = nil }, "Routes[0].Bootstrap", "", ""},
		{"x509 without certificate", func(c *outbound.Config) { c.Profile = outbound.ProfileX509 }, "Certificate", "", ""},
		{"signature method", func(c *outbound.Config) { c.SignatureMethod = "rsa" }, "SignatureMethod", "rsa", ""},
		{"key size", func(c *outbound.Config) { c.KeySize = 300 }, "KeySize", "300", ""},
		{"max body", func(c *outbound.Config) { c.MaxBody = 100 }, "MaxBody", "100", ""},
		{"max endpoints", func(c *outbound.Config) { c.MaxEndpoints = -1 }, "MaxEndpoints", "-1", ""},
		{"establish timeout", func(c *outbound.Config) { c.EstablishTimeout = -1 }, "EstablishTimeout", "-1ns", ""},
		{"renew interval", func(c *outbound.Config) { c.Renewal.Interval = -1 }, "Renewal.Interval", "-1ns", ""},
		{"endpoint not a path", func(c *outbound.Config) { c.Routes[0].Endpoints = []string{"ep"} }, "Routes[0].Endpoints[0]", "", ""},
		{"endpoint with query", func(c *outbound.Config) { c.Routes[0].Endpoints = []string{"/ep?x"} }, "Routes[0].Endpoints[0]", "", ""},
		{"endpoint climbing out", func(c *outbound.Config) { c.Routes[0].Endpoints = []string{"/..;/admin"} }, "Routes[0].Endpoints[0]", "/..;/admin", ""},
		{"endpoint twice", func(c *outbound.Config) { c.Routes[0].Endpoints = []string{"/ep", "/ep"} }, "Routes[0].Endpoints[1]", "/ep", ""},
		{"more endpoints than MaxEndpoints", func(c *outbound.Config) { c.MaxEndpoints, c.Routes[0].Endpoints = 2, []string{"/a", "/b"} }, "Routes", "3 endpoints", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.change(&cfg)
			err := cfg.Validate()
			var fe *setting.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *setting.Error", err)
			}
			if fe.Field != tt.field || fe.Value != tt.value || fe.Allow != tt.allow {
				t.Errorf("setting.Error{Field: %q, Value: %q, Allow: %q}, want {%q, %q, %q}", fe.Field, fe.Value, fe.Allow, tt.field, tt.value, tt.allow)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.field) || strings.Contains(msg, testPassword) {
				t.Errorf("message %q does not start with the field or holds the password", msg)
			}
			named := fe.Describe(func(f string) string { return "<" + f + ">" })
			if !strings.HasPrefix(named, "<"+tt.field+">") || (tt.allow != "" && !strings.Contains(named, "<"+tt.allow+">")) {
				t.Errorf("Describe = %q, want the settings as named", named)
			}
		})
	}
	if err := func() error { c := valid(); return c.Validate() }(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

// TestValidateDoesNotChangeConfig: Validate checks the defaults a zero
// setting takes without writing them into the caller's Config; a zero
// Config is checked with its defaults (a loopback listener).
func TestValidateDoesNotChangeConfig(t *testing.T) {
	u, err := url.Parse("https://svc.example/Echo.svc")
	if err != nil {
		t.Fatal(err)
	}
	cfg := outbound.Config{Routes: []outbound.Route{{Prefix: "/", Upstream: u}}, Security: outbound.SecurityNone}
	before := cfg
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, before) {
		t.Errorf("Validate changed the config: %+v, was %+v", cfg, before)
	}
}

// TestValidateSettingsNeedsNoCredential: the settings are checked before
// any credential exists, and Validate then asks for one.
func TestValidateSettingsNeedsNoCredential(t *testing.T) {
	u, err := url.Parse("https://svc.example/Echo.svc")
	if err != nil {
		t.Fatal(err)
	}
	cfg := outbound.Config{Routes: []outbound.Route{{Prefix: "/", Upstream: u}}}
	if err := cfg.ValidateSettings(); err != nil {
		t.Fatalf("ValidateSettings: %v", err)
	}
	var fe *setting.Error
	if err := cfg.Validate(); !errors.As(err, &fe) || fe.Field != "Routes[0].Bootstrap" {
		t.Fatalf("Validate = %v, want the missing bootstrap", err)
	}
}
