package cxfpeer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MsgScenario is a message-security scenario of the service, read from
// its endpoint path
// /msg/BOOTSTRAP/VERSION/ORDER/dk|nodk/cancel|nocancel/SUITE/soap11|soap12
// (see testdata/peers/cxf's MsgScenario, where the list lives).
type MsgScenario struct {
	// Path is the endpoint's path, with its leading slash.
	Path string
	// Bootstrap is anonymous (AnonymousForCertificate), username
	// (UserNameForCertificate), mutual (MutualCertificate) or mutual10
	// (MutualCertificate10).
	Bootstrap string
	// Version is the policy's: 2005 (WS-SP 2005/07, WS-SC February 2005)
	// or 13 (WS-SP 1.2, WS-SC 1.3).
	Version string
	// Order is sign-encrypt-signature (SignBeforeEncrypting with
	// EncryptSignature), sign-encrypt or encrypt-sign
	// (EncryptBeforeSigning).
	Order string
	// Derived is RequireDerivedKeys; Cancel is false for
	// MustNotSendCancel.
	Derived, Cancel bool
	// Suite is the WS-SP algorithm suite (Basic256, Basic128,
	// Basic256Sha256).
	Suite string
	// SOAP12 is the service's SOAP version.
	SOAP12 bool
}

// ParseMsgPath reads a message-security scenario from an endpoint path
// or address; ok is false for any other endpoint.
func ParseMsgPath(p string) (s MsgScenario, ok bool) {
	if i := strings.Index(p, "/msg/"); i >= 0 {
		p = p[i:]
	}
	f := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(f) != 8 || f[0] != "msg" {
		return MsgScenario{}, false
	}
	s = MsgScenario{Path: p, Bootstrap: f[1], Version: f[2], Order: f[3], Derived: f[4] == "dk",
		Cancel: f[5] == "cancel", Suite: f[6], SOAP12: f[7] == "soap12"}
	return s, true
}

// MsgScenarios are the message-security scenarios the service serves, in
// its order.
func (p *Peer) MsgScenarios() []MsgScenario {
	var out []MsgScenario
	for _, e := range p.Endpoints {
		if s, ok := ParseMsgPath(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// SCVersion is the scenario's WS-SC version as scproxy's --sc-version
// names it.
func (s MsgScenario) SCVersion() string {
	if s.Version == "2005" {
		return "2005-02"
	}
	return "1.3"
}

// MsgClient is a running CXF client of the message-security scenarios.
type MsgClient struct{ *process }

// StartMsgClient runs CXF's message-security client against the service's
// plain listener base, with the PKI's client certificate and the
// service's certificate.
func StartMsgClient(java string, b Build, pki *PKI, dir, base string) (*MsgClient, error) {
	p, err := startJVM(java, b, dir, "msgclient", []string{"PEER_PASSWORD=" + Password}, "io.scproxy.peer.MsgClient",
		"--base", base, "--ca", pki.CAFile, "--cert", pki.ClientCert, "--key", pki.ClientKey,
		"--server-cert", pki.ServerCert, "--user", User)
	if err != nil {
		return nil, err
	}
	if _, err := p.await("READY", 90*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("CXF message client: %w", err)
	}
	return &MsgClient{p}, nil
}

// Run runs one scenario's life with CXF's client (bootstrap, two echoes,
// a renewal and an echo on the renewed key, and unless the scenario has
// MustNotSendCancel an echo followed by a Cancel) and returns the
// client's account ("renewed cancel-sent" or "renewed no-cancel"); the
// service's wire log tells what it made of each message.
func (c *MsgClient) Run(s MsgScenario) (string, error) {
	path := strings.TrimPrefix(s.Path, "/")
	line, err := c.command("run "+path, "", 2*time.Minute)
	for err == nil && !strings.HasPrefix(line, "OK "+path+" ") && !strings.HasPrefix(line, "FAIL "+path+" ") {
		line, err = c.await("", 2*time.Minute)
	}
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "FAIL "+path+" "); ok {
		return "", fmt.Errorf("CXF's client failed %s: %s", path, rest)
	}
	return strings.TrimPrefix(line, "OK "+path+" "), nil
}

// Load drives a closed loop of threads callers of the scenario for d
// with payloads of size bytes (the load client's Process elements) and
// waits for it. Each caller keeps its context from one Load to the next,
// as Client's callers do.
func (c *MsgClient) Load(s MsgScenario, size, threads int, d time.Duration) (RunResult, error) {
	return c.load(fmt.Sprintf("load %s %d %d %d", strings.TrimPrefix(s.Path, "/"), size, threads, d.Milliseconds()), d)
}

// KitPKI is the test kit's fixed PKI (internal/testkit/testdata: its CA,
// the server certificate for 127.0.0.1 and the client certificate, keys
// PKCS#8), read where the module keeps it: messages captured with it can
// be checked later with the same keys. The files are copied into dir,
// readable by their owner only.
func KitPKI(dir string) (*PKI, error) {
	src, err := Source()
	if err != nil {
		return nil, err
	}
	kit := filepath.Join(src, "..", "..", "..", "internal", "testkit", "testdata")
	p := &PKI{
		CAFile:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	for _, f := range []string{p.CAFile, p.ServerCert, p.ServerKey, p.ClientCert, p.ClientKey} {
		b, err := os.ReadFile(filepath.Join(kit, filepath.Base(f)))
		if err != nil {
			return nil, fmt.Errorf("the test kit's PKI: %w", err)
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}
