package cli

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/wsa"
)

// messageFiles writes the service certificate (RSA), an ECDSA one, and
// the client's certificate and key, and returns their paths.
func messageFiles(t *testing.T) (server, serverEC, clientCert, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	server = writeFile(t, dir, "server.pem", string(testkit.Server().CertPEM), 0o644)
	serverEC = writeFile(t, dir, "server-ec.pem", string(testkit.ServerEC().CertPEM), 0o644)
	clientCert = writeFile(t, dir, "client.pem", string(testkit.Client().CertPEM), 0o644)
	key := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testkit.Client().RSAKey())})
	clientKey = writeFile(t, dir, "client-key.pem", string(key), 0o600)
	return server, serverEC, clientCert, clientKey
}

// TestRunMessageProfile: --profile message takes its bootstrap binding,
// the service certificate, the suite and the order from their flags,
// defaults derived keys on (an explicit value wins), accepts a plain
// http upstream, and refuses what cannot work with an error naming the
// flag.
func TestRunMessageProfile(t *testing.T) {
	server, serverEC, clientCert, clientKey := messageFiles(t)
	httpUp := []string{"--upstream", "http://svc.example.com/Service.svc"}
	msg := []string{"--profile", "message", "--server-cert", server}
	certArgs := []string{"--cert-file", clientCert, "--key-file", clientKey}
	type want struct {
		kind    bootstrap.MessageKind
		suite   string
		order   msgsec.Order
		derived bool
		keep    bool   // no Cancel
		user    string // of the username binding
		sig     string // signature method
		keySize int    // bits; 0 for 256
		renew   bool   // a Renew under the bootstrap binding
	}
	tests := []struct {
		name    string
		args    []string
		want    want
		wantErr string
	}{
		{name: "defaults: anonymous, Basic256, WCF's order, derived keys, plain http", args: cmdline(httpUp, msg),
			want: want{kind: bootstrap.AnonymousForCertificate, suite: "Basic256", derived: true}},
		{name: "username", args: cmdline(httpUp, msg, userPW, []string{"--message-bootstrap", "username"}),
			want: want{kind: bootstrap.UserNameForCertificate, suite: "Basic256", derived: true, user: "alice"}},
		{name: "mutual", args: cmdline(httpUp, msg, certArgs, []string{"--message-bootstrap", "mutual"}),
			want: want{kind: bootstrap.MutualCertificate, suite: "Basic256", derived: true}},
		{name: "mutual10, suite, order, no derived keys, no cancel", args: cmdline(httpUp, msg, certArgs, []string{"--message-bootstrap", "mutual10",
			"--algorithm-suite", "Basic128Sha256Rsa15", "--protection-order", "encrypt-sign", "--derived-keys=false", "--no-cancel", "--signature-algorithm", "hmac-sha256"}),
			want: want{kind: bootstrap.MutualCertificate10, suite: "Basic128Sha256Rsa15", order: msgsec.EncryptBeforeSign, keep: true, sig: dsig.HMACSHA256, keySize: 128}},
		{name: "Basic192 with an explicit key size", args: cmdline(httpUp, msg, []string{"--algorithm-suite", "Basic192", "--key-size", "256"}),
			want: want{kind: bootstrap.AnonymousForCertificate, suite: "Basic192", derived: true, keySize: 256}},
		{name: "TripleDes", args: cmdline(httpUp, msg, []string{"--algorithm-suite", "TripleDes"}),
			want: want{kind: bootstrap.AnonymousForCertificate, suite: "TripleDes", derived: true, keySize: 192}},
		{name: "renew as WCF", args: cmdline(httpUp, msg, userPW, []string{"--message-bootstrap", "username", "--message-renew", "bootstrap"}),
			want: want{kind: bootstrap.UserNameForCertificate, suite: "Basic256", derived: true, user: "alice", renew: true}},
		{name: "renew as WCF, mutual", args: cmdline(httpUp, msg, certArgs, []string{"--message-bootstrap", "mutual", "--message-renew", "bootstrap"}), wantErr: "--message-renew bootstrap: not with --message-bootstrap mutual"},
		{name: "unknown renew", args: cmdline(httpUp, msg, []string{"--message-renew", "cxf"}), wantErr: "--message-renew \"cxf\": want context or bootstrap"},
		{name: "sign-encrypt", args: cmdline(httpUp, msg, []string{"--protection-order", "sign-encrypt"}),
			want: want{kind: bootstrap.AnonymousForCertificate, suite: "Basic256", order: msgsec.SignBeforeEncrypt, derived: true}},
		{name: "no server certificate", args: cmdline(httpUp, []string{"--profile", "message"}), wantErr: "--server-cert: required"},
		{name: "unreadable server certificate", args: cmdline(httpUp, []string{"--profile", "message", "--server-cert", server + ".missing"}), wantErr: "--server-cert"},
		{name: "ECDSA server certificate", args: cmdline(httpUp, []string{"--profile", "message", "--server-cert", serverEC}), wantErr: "RSA"},
		{name: "unknown binding", args: cmdline(httpUp, msg, []string{"--message-bootstrap", "kerberos"}), wantErr: "--message-bootstrap \"kerberos\": want anonymous, username, mutual or mutual10"},
		{name: "unknown suite", args: cmdline(httpUp, msg, []string{"--algorithm-suite", "Basic512"}), wantErr: "--algorithm-suite \"Basic512\""},
		{name: "unknown order", args: cmdline(httpUp, msg, []string{"--protection-order", "encrypt"}), wantErr: "--protection-order \"encrypt\""},
		{name: "mutual without certificate", args: cmdline(httpUp, msg, []string{"--message-bootstrap", "mutual"}), wantErr: "no certificate"},
		{name: "username without user", args: cmdline(httpUp, msg, []string{"--message-bootstrap", "username", "--password-env", "PW"}), wantErr: "--username"},
		{name: "--bootstrap is not this profile's", args: cmdline(httpUp, msg, []string{"--bootstrap", "kerberos"}), wantErr: "--message-bootstrap"},
		{name: "--server-cert under sc-tls", args: cmdline(upstream, userPW, []string{"--server-cert", server}), wantErr: "--profile message only"},
		{name: "sc-tls still refuses plain http", args: cmdline(httpUp, userPW), wantErr: "--allow-plain-http"},
		{name: "no addressing", args: cmdline(httpUp, msg, []string{"--addressing", "none"}), wantErr: "--addressing none: profile message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, baseEnv, tt.args...)
			if tt.wantErr != "" {
				var ue *UsageError
				if r.runErr == nil || !errors.As(r.runErr, &ue) || !strings.Contains(r.runErr.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a usage error mentioning %q", r.runErr, tt.wantErr)
				}
				return
			}
			if r.runErr != nil {
				t.Fatalf("run: %v", r.runErr)
			}
			cfg, w := r.cfg, tt.want
			if cfg.KeySize != cmp.Or(w.keySize, 256) {
				t.Fatalf("key size %d, want %d", cfg.KeySize, cmp.Or(w.keySize, 256))
			}
			if cfg.Addressing != (outbound.Addressing{Version: wsa.V10}) {
				t.Fatalf("addressing %+v, want WS-Addressing 1.0 by default", cfg.Addressing)
			}
			if cfg.Profile != outbound.ProfileMessage || cfg.Message.Suite.Name != w.suite || cfg.Message.Order != w.order || cfg.DerivedKeys != w.derived || cfg.KeepContexts != w.keep {
				t.Fatalf("config: profile %v suite %q order %v derived %v keep %v; want %+v", cfg.Profile, cfg.Message.Suite.Name, cfg.Message.Order, cfg.DerivedKeys, cfg.KeepContexts, w)
			}
			m, ok := cfg.Bootstrap.(*bootstrap.Message)
			if !ok {
				t.Fatalf("bootstrap %T, want *bootstrap.Message", cfg.Bootstrap)
			}
			if _, ok := cfg.Bootstrap.(session.MessageProtection); !ok {
				t.Fatal("the bootstrap does not protect the STS exchanges")
			}
			mc := m.Config()
			if mc.Kind != w.kind || !mc.ServerCert.Equal(testkit.Server().Cert) || mc.User != w.user || mc.Suite.Name != w.suite || mc.DerivedKeys != w.derived || mc.SignatureMethod != cmp.Or(w.sig, dsig.HMACSHA1) {
				t.Fatalf("bootstrap %+v; want %+v", mc, w)
			}
			if mc.RenewUnderBootstrap != w.renew {
				t.Fatalf("renew under the bootstrap %v, want %v", mc.RenewUnderBootstrap, w.renew)
			}
			if (mc.Client != nil) != (w.kind == bootstrap.MutualCertificate || w.kind == bootstrap.MutualCertificate10) {
				t.Fatalf("client certificate %v for %v", mc.Client, w.kind)
			}
			if w.user != "" && mc.Password.Reveal() != canary {
				t.Fatal("the username binding lost the password")
			}
			if strings.Contains(r.err.String()+r.out.String(), canary) {
				t.Fatal("the password was printed")
			}
		})
	}
}

// The status of a message-profile proxy starts with its protection.
func TestPrintStatusMessage(t *testing.T) {
	var out strings.Builder
	st := outbound.Status{Security: "context", Profile: "message",
		Message:   &outbound.MessageStatus{Suite: "Basic256", Order: "SignBeforeEncryptAndEncryptSignature", DerivedKeys: true, SignatureMethod: dsig.HMACSHA1},
		Endpoints: []session.Status{{Endpoint: "http://svc.example/Echo.svc", State: session.StateActive, Bootstrap: "username-for-certificate"}}}
	if err := printStatus(&out, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if want := "profile message: Basic256, SignBeforeEncryptAndEncryptSignature, derived keys true, " + dsig.HMACSHA1; first != want {
		t.Fatalf("first line %q, want %q", first, want)
	}
}
