package cli

import (
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
)

// TestDemoServerStrict: --strict gives the server WCF wsHttpBinding's
// rules (SOAP 1.2, WS-Addressing 1.0, the service's path only); without
// it the server takes every version and path.
func TestDemoServerStrict(t *testing.T) {
	o, err := parse(t, "--strict")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Strict == nil || cfg.Strict.SOAP != soap.V12 || len(cfg.Strict.Paths) != 1 || cfg.Strict.Paths[0] != demoPath {
		t.Errorf("strict %+v, want SOAP 1.2 on %s", cfg.Strict, demoPath)
	}
	o, err = parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = o.Config(zeroReader{}); err != nil || cfg.Strict != nil {
		t.Errorf("strict %+v (%v) without --strict", cfg.Strict, err)
	}
}
