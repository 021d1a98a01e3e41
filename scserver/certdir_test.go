package scserver_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/scproxy/scproxy/scserver"
)

// TestCertDirCreated (what a newcomer hit): a certificate directory that
// does not exist yet is created, and the CA certificate written into it
// parses; Close leaves a directory it did not make.
func TestCertDirCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scproxy", "demo")
	srv, err := scserver.New(scserver.Config{Addr: "127.0.0.1:0", CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if srv.CAFile() != filepath.Join(dir, "ca.pem") {
		t.Errorf("CA file %s, want it in %s", srv.CAFile(), dir)
	}
	b, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM in the CA file")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the named directory is gone after Close: %v", err)
	}
}
