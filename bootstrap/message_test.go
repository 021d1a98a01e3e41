package bootstrap_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

const messagePassword = "canary-Message-Pw-5c1d"

// NewMessage takes each binding with the credential it needs and refuses
// what cannot work, naming why.
func TestNewMessage(t *testing.T) {
	client := &secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	base := bootstrap.MessageConfig{ServerCert: testkit.Server().Cert, Version: wssc.Feb2005}
	with := func(mod func(*bootstrap.MessageConfig)) bootstrap.MessageConfig {
		c := base
		mod(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  bootstrap.MessageConfig
		want string // in the error; "" for success
	}{
		{"anonymous", with(func(c *bootstrap.MessageConfig) { c.Kind = bootstrap.AnonymousForCertificate }), ""},
		{"username", with(func(c *bootstrap.MessageConfig) {
			c.Kind, c.User, c.Password = bootstrap.UserNameForCertificate, "alice", creds.NewSecret(messagePassword)
		}), ""},
		{"mutual", with(func(c *bootstrap.MessageConfig) { c.Kind, c.Client = bootstrap.MutualCertificate, client }), ""},
		{"mutual10", with(func(c *bootstrap.MessageConfig) { c.Kind, c.Client = bootstrap.MutualCertificate10, client }), ""},
		{"no kind", base, "unknown binding"},
		{"no service certificate", with(func(c *bootstrap.MessageConfig) { c.Kind, c.ServerCert = bootstrap.AnonymousForCertificate, nil }), "no service certificate"},
		{"ECDSA service certificate", with(func(c *bootstrap.MessageConfig) {
			c.Kind, c.ServerCert = bootstrap.AnonymousForCertificate, testkit.ServerEC().Cert
		}), "RSA keys only"},
		{"no version", with(func(c *bootstrap.MessageConfig) {
			c.Kind, c.Version = bootstrap.AnonymousForCertificate, wssc.Version{}
		}), "no WS-SecureConversation version"},
		{"username without user", with(func(c *bootstrap.MessageConfig) { c.Kind = bootstrap.UserNameForCertificate }), "needs a user name"},
		{"mutual without certificate", with(func(c *bootstrap.MessageConfig) { c.Kind = bootstrap.MutualCertificate }), "needs the client's certificate"},
		{"mutual with a key of another certificate", with(func(c *bootstrap.MessageConfig) {
			c.Kind, c.Client = bootstrap.MutualCertificate, &secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.OtherClient().Key}
		}), "does not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := bootstrap.NewMessage(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m.Kind() != tt.cfg.Kind.String() || m.Config().Suite.Name != "Basic256" {
					t.Fatalf("kind %q suite %q", m.Kind(), m.Config().Suite.Name)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A Message prints its binding and user under every verb and logger,
// never the password or the client's key; its Secure refuses, since its
// requests are protected by Bootstrap and Context.
func TestMessageKeepsSecrets(t *testing.T) {
	m, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.UserNameForCertificate, ServerCert: testkit.Server().Cert,
		Version: wssc.V1_3, User: "alice", Password: creds.NewSecret(messagePassword)})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("bootstrap", "b", m)
	out := fmt.Sprintf("%v %+v %#v %s", m, m, m, m) + logs.String()
	if strings.Contains(out, messagePassword) || !strings.Contains(out, "username-for-certificate") || !strings.Contains(out, "alice") {
		t.Fatalf("printed: %s", out)
	}
	if _, err := m.Secure(context.Background(), soap.NewEnvelope(soap.V12), secure.Options{}); err == nil || strings.Contains(err.Error(), messagePassword) {
		t.Fatalf("Secure: %v", err)
	}
}

// LoadServerCertificate reads the first certificate of a PEM file and
// names the file in its errors.
func TestLoadServerCertificate(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("server.pem", testkit.Server().CertPEM)
	c, err := bootstrap.LoadServerCertificate(good)
	if err != nil || !c.Equal(testkit.Server().Cert) {
		t.Fatalf("LoadServerCertificate = %v, %v", c, err)
	}
	for name, tc := range map[string]struct {
		file string
		want string
	}{
		"missing":  {filepath.Join(dir, "none.pem"), "none.pem"},
		"not PEM":  {write("junk.pem", []byte("junk")), "no CERTIFICATE block"},
		"EC key":   {write("ec.pem", testkit.ServerEC().CertPEM), "RSA keys only"},
		"key only": {write("key.pem", testkit.Client().KeyPEM), "no CERTIFICATE block"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := bootstrap.LoadServerCertificate(tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
