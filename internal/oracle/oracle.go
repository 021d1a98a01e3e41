// Package oracle runs independent implementations against scproxy's output
// in tests: Debian's xmlsec1 (libxmlsec1 over libxml2 and OpenSSL) for
// signatures and xmllint for canonicalization.
package oracle

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Require returns the path of tool, skipping the test when it is absent
// outside CI and failing it when absent in CI (the CI script installs it).
func Require(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI but not installed", tool)
	}
	t.Skipf("%s not installed (apt-get install xmlsec1 libxml2-utils); skipping the independent check", tool)
	return ""
}

// Key is how xmlsec1 gets the verification key: HMAC bytes, or a PEM
// certificate or public key.
type Key struct {
	HMAC    []byte
	CertPEM []byte
	PubPEM  []byte
}

// XMLSecVerify asks xmlsec1 to verify the first Signature in doc. idNodes
// lists "<namespace-uri>:<local-name>" of the elements whose Id attribute
// (wsu:Id included) references may name. It returns xmlsec1's output and
// whether it reported success.
func XMLSecVerify(t testing.TB, doc []byte, key Key, idNodes ...string) (string, bool) {
	t.Helper()
	return XMLSecVerifyAll(t, [][]byte{doc}, key, idNodes...)
}

// XMLSecVerifyAll is XMLSecVerify for many documents signed with the same
// key, verified by one xmlsec1 process: it reports success only if every
// document verifies (xmlsec1 stops at the first that does not). One
// process instead of one per document saves xmlsec1's start-up, most of
// the cost of a check.
func XMLSecVerifyAll(t testing.TB, docs [][]byte, key Key, idNodes ...string) (string, bool) {
	t.Helper()
	bin := Require(t, "xmlsec1")
	dir := t.TempDir()
	args := []string{"--verify"}
	switch {
	case key.HMAC != nil:
		p := filepath.Join(dir, "key.bin")
		write(t, p, key.HMAC)
		args = append(args, "--hmackey", p)
	case key.CertPEM != nil:
		p := filepath.Join(dir, "cert.pem")
		write(t, p, key.CertPEM)
		args = append(args, "--pubkey-cert-pem", p)
	case key.PubPEM != nil:
		p := filepath.Join(dir, "pub.pem")
		write(t, p, key.PubPEM)
		args = append(args, "--pubkey-pem", p)
	}
	for _, n := range idNodes {
		args = append(args, "--id-attr:Id", n)
	}
	for i, doc := range docs {
		msg := filepath.Join(dir, "msg"+strconv.Itoa(i)+".xml")
		write(t, msg, doc)
		args = append(args, msg)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err == nil
}

// ExcC14N returns xmllint's exclusive canonical form of a whole document
// (comments kept, as xmllint does).
func ExcC14N(t testing.TB, doc []byte) []byte {
	t.Helper()
	bin := Require(t, "xmllint")
	p := filepath.Join(t.TempDir(), "doc.xml")
	write(t, p, doc)
	out, err := exec.Command(bin, "--exc-c14n", p).Output()
	if err != nil {
		t.Fatalf("xmllint --exc-c14n: %v", err)
	}
	return out
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// PythonJSON runs a Python oracle script (one that drives libxml2, the
// library xmlsec1 and xmllint are built on): in is sent as JSON on stdin
// and the script's JSON output is decoded into out.
func PythonJSON(t testing.TB, script string, in, out any) {
	t.Helper()
	py := Require(t, "python3")
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle %s: %v\n%s", filepath.Base(script), err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("oracle %s output: %v", filepath.Base(script), err)
	}
}
