package bootstrap

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// certPKI is the test kit's CA and the client certificate it signed, with
// another key that does not belong to it.
type certPKI struct {
	pool     *x509.CertPool
	caPEM    []byte
	cert     *x509.Certificate
	key      *rsa.PrivateKey
	otherKey *rsa.PrivateKey
}

func loadCertPKI(t *testing.T) *certPKI {
	t.Helper()
	return &certPKI{pool: testkit.Pool(), caPEM: testkit.CA().CertPEM, cert: testkit.Client().Cert, key: testkit.Client().RSAKey(), otherKey: testkit.OtherClient().RSAKey()}
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func writeFile(t *testing.T, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCertificate(t *testing.T) {
	p := loadCertPKI(t)
	certPEM := pemOf("CERTIFICATE", p.cert.Raw)
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.key))
	pkcs8der, _ := x509.MarshalPKCS8PrivateKey(p.key)
	pkcs8 := pemOf("PRIVATE KEY", pkcs8der)
	const passphrase = "p12-Passphrase-Canary"
	p12, err := pkcs12.Modern.Encode(p.key, p.cert, nil, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeFile(t, "cert.pem", certPEM, 0o644)
	tests := []struct {
		name    string
		load    func() (secure.Certificate, error)
		wantErr string
	}{
		{"PEM, PKCS#1 key", func() (secure.Certificate, error) {
			return LoadPEM(certFile, writeFile(t, "k1.pem", pkcs1, 0o600))
		}, ""},
		{"PEM, PKCS#8 key", func() (secure.Certificate, error) {
			return LoadPEM(certFile, writeFile(t, "k8.pem", pkcs8, 0o400))
		}, ""},
		{"one file with both", func() (secure.Certificate, error) {
			both := writeFile(t, "both.pem", append(append([]byte{}, pkcs8...), certPEM...), 0o600)
			return LoadPEM(both, both)
		}, ""},
		{"PKCS#12", func() (secure.Certificate, error) {
			return LoadPKCS12(writeFile(t, "c.p12", p12, 0o644), creds.NewSecret(passphrase))
		}, ""},
		{"PKCS#12, wrong passphrase", func() (secure.Certificate, error) {
			return LoadPKCS12(writeFile(t, "c.p12", p12, 0o644), creds.NewSecret("wrong"))
		}, "wrong passphrase"},
		{"key readable by others", func() (secure.Certificate, error) {
			return LoadPEM(certFile, writeFile(t, "open.pem", pkcs1, 0o644))
		}, "run chmod 600"},
		{"encrypted PEM key", func() (secure.Certificate, error) {
			enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
			return LoadPEM(certFile, writeFile(t, "enc.pem", enc, 0o600))
		}, "put it in a PKCS#12 file"},
		{"no key in the key file", func() (secure.Certificate, error) {
			return LoadPEM(certFile, writeFile(t, "nokey.pem", certPEM, 0o600))
		}, "no PRIVATE KEY block"},
		{"no certificate", func() (secure.Certificate, error) {
			k := writeFile(t, "k.pem", pkcs1, 0o600)
			return LoadPEM(k, k)
		}, "no CERTIFICATE block"},
		{"corrupt key", func() (secure.Certificate, error) {
			return LoadPEM(certFile, writeFile(t, "bad.pem", pemOf("RSA PRIVATE KEY", []byte("junk")), 0o600))
		}, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), passphrase) || strings.Contains(err.Error(), "PRIVATE KEY-----") {
					t.Fatalf("the error quotes a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewCertificate(c); err != nil {
				t.Fatalf("loaded pair refused: %v", err)
			}
			if !c.Cert.Equal(p.cert) {
				t.Fatal("another certificate loaded")
			}
		})
	}
}

func TestNewCertificateRefusesMismatch(t *testing.T) {
	p := loadCertPKI(t)
	if _, err := NewCertificate(secure.Certificate{Cert: p.cert, Key: p.otherKey}); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
	ec := testkit.ServerEC()
	if _, err := NewCertificate(secure.Certificate{Cert: ec.Cert, Key: ec.Key}); err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Fatalf("ECDSA certificate: %v", err)
	}
	if _, err := NewCertificate(secure.Certificate{Cert: p.cert}); err == nil {
		t.Fatal("missing key accepted")
	}
}

// recorder keeps the body of every WS-Trust request on its way to the
// server.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	rsts [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if bytes.Contains(body, []byte("RequestSecurityToken")) {
		r.mu.Lock()
		r.rsts = append(r.rsts, body)
		r.mu.Unlock()
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	r.next.ServeHTTP(w, req)
}

// The certificate bootstrap establishes, renews and cancels a context
// with the built-in server, which checks the RST signature against its
// trusted CA; xmlsec1 verifies the same captured RST on its own; and the
// private key shows in no log line, error or status.
func TestCertificateLifecycle(t *testing.T) {
	p := loadCertPKI(t)
	logs := &testkit.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	textLogger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, TrustedCAs: p.pool, Logger: textLogger})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: srv}
	ts := httptest.NewTLSServer(rec)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	u, _ := url.Parse(ts.URL + "/Orders.svc")
	b, err := NewCertificate(secure.Certificate{Cert: p.cert, Key: p.key})
	if err != nil {
		t.Fatal(err)
	}
	var statusJSON bytes.Buffer
	for _, v := range []wssc.Version{wssc.Feb2005, wssc.V1_3} {
		t.Run(v.String(), func(t *testing.T) {
			sp := session.NewPool(session.PoolConfig{})
			ep, err := sp.Endpoint(u.String(), func() session.Config {
				return session.Config{URL: u, Version: v, Bootstrap: b, Logger: logger,
					Client: upstream.New(upstream.Config{RootCAs: pool}), Timeout: 5 * time.Second}
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			before := srv.Stats()
			c, err := ep.Context(ctx, session.Wire{SOAP: soap.V12, Addressing: wsa.V10})
			if err != nil {
				t.Fatalf("establish: %v", err)
			}
			if _, err := ep.Renew(ctx, c); err != nil {
				t.Fatalf("renew: %v", err)
			}
			status := ep.Status()
			js, _ := json.Marshal(status)
			statusJSON.Write(js)
			if err := sp.Close(ctx); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			after := srv.Stats()
			if after.Issued-before.Issued != 1 || after.Renewed-before.Renewed != 1 || after.Cancelled-before.Cancelled != 1 {
				t.Fatalf("server saw %+v then %+v", before, after)
			}
			if status.Bootstrap != "certificate" {
				t.Fatalf("status bootstrap %q", status.Bootstrap)
			}
		})
	}

	rec.mu.Lock()
	issue := rec.rsts[0]
	rec.mu.Unlock()
	out, ok := oracle.XMLSecVerify(t, issue, oracle.Key{CertPEM: pemOf("CERTIFICATE", p.cert.Raw)},
		"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd:Timestamp",
		"http://www.w3.org/2005/08/addressing:To")
	if !ok {
		t.Fatalf("xmlsec1 refused the Issue request's signature:\n%s\n%s", out, issue)
	}
	if !strings.Contains(logs.String(), "x509:") {
		t.Errorf("the server log does not say who authenticated:\n%s", logs.String())
	}

	der, _ := x509.MarshalPKCS8PrivateKey(p.key)
	secrets := []string{base64.StdEncoding.EncodeToString(der)[:40], p.key.D.String()[:40], p.key.Primes[0].String()[:30]}
	printed := logs.String() + statusJSON.String() + b.String() + b.GoString() + fmt.Sprintf("%v %+v %#v", b, b.Credential(), b.Credential())
	for _, s := range secrets {
		if strings.Contains(printed, s) {
			t.Fatalf("the private key shows in the logs or the bootstrap's printed forms")
		}
	}
}

// TestLoadPEMEncryptedKey: a key protected by a passphrase, in either PEM
// form, is refused with ErrEncryptedKey, which callers find with
// errors.Is to say where such keys go.
func TestLoadPEMEncryptedKey(t *testing.T) {
	p := loadCertPKI(t)
	certFile := writeFile(t, "cert.pem", pemOf("CERTIFICATE", p.cert.Raw), 0o644)
	for name, block := range map[string]*pem.Block{
		"PKCS#8":         {Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}},
		"PKCS#1, legacy": {Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1, 2, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadPEM(certFile, writeFile(t, "enc.pem", pem.EncodeToMemory(block), 0o600))
			if !errors.Is(err, ErrEncryptedKey) {
				t.Fatalf("got %v, want ErrEncryptedKey", err)
			}
		})
	}
}
