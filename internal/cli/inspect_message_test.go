package cli

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/msgsec"
)

// TestInspectedMessageSettingsWork: each message-security endpoint of the
// test descriptions (WCF wsHttpBinding Message with
// negotiateServiceCredential="false", the CXF peer's message scenarios),
// served by the built-in server under the policy the description
// publishes and with the certificate it publishes, is reached by `scproxy
// run` with exactly the flags inspect prints, plus the credential a user
// adds: a SOAP 1.1 application's echo comes back.
func TestInspectedMessageSettingsWork(t *testing.T) {
	dir := t.TempDir()
	clientCert := writeFile(t, dir, "client.pem", string(testkit.PEM(testkit.Client().Cert)), 0o600)
	keyDER, err := x509.MarshalPKCS8PrivateKey(testkit.Client().Key)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := writeFile(t, dir, "client.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	for _, name := range []string{"orders.wsdl0.wsdl", "cxf-echo.wsdl"} {
		copyRewritten(t, name, dir, "")
	}
	orders := map[string]msgsec.Order{
		"sign-encrypt-signature": msgsec.SignBeforeEncryptAndEncryptSignature,
		"sign-encrypt":           msgsec.SignBeforeEncrypt,
		"encrypt-sign":           msgsec.EncryptBeforeSign,
	}
	bootstraps := map[string]scserver.MessageBootstrap{
		"anonymous": scserver.BootstrapAnonymous, "username": scserver.BootstrapUsername,
		"mutual": scserver.BootstrapMutual, "mutual10": scserver.BootstrapMutual10,
	}
	// Each service as it was written (not as inspect reads it: the
	// server must not learn its settings from the code under test).
	services := []struct {
		name, suite, order, bootstrap string
		derived, noCancel             bool
	}{
		{"wshttp-message-username-nonego", "Basic256", "sign-encrypt-signature", "username", true, false},
		{"cxf-msg-anonymous-2005-soap12", "Basic256", "sign-encrypt-signature", "anonymous", true, false},
		{"cxf-msg-username-13-soap11", "Basic256", "sign-encrypt", "username", false, false},
		{"cxf-msg-mutual-13-soap12", "Basic256", "sign-encrypt-signature", "mutual", false, true},
		{"cxf-msg-mutual10-2005-soap12", "Basic256", "sign-encrypt", "mutual10", false, false},
	}
	for _, svc := range services {
		name := svc.name
		t.Run(name, func(t *testing.T) {
			suite, err := msgsec.SuiteByName(svc.suite)
			if err != nil {
				t.Fatal(err)
			}
			srv := startBuiltIn(t, scserver.Config{Addr: "127.0.0.1:0", Users: map[string]string{"alice": canary}, TrustedCAs: testkit.Pool(),
				Message: &scserver.MessageSecurity{
					Certificate: testkit.Server().Cert, Key: testkit.Server().RSAKey(), Suite: suite, Order: orders[svc.order],
					DerivedKeys: svc.derived, Bootstraps: []scserver.MessageBootstrap{bootstraps[svc.bootstrap]}, NoCancel: svc.noCancel,
				}})

			file := copyRewritten(t, name+".wsdl", dir, srv.URL())
			out, errOut, code := inspect(t, "--format", "flags", "--cert-dir", dir, file)
			if code != ExitOK {
				t.Fatalf("inspect: exit %d: %s", code, errOut)
			}
			var args []string
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "scproxy run ") {
					args = strings.Fields(strings.TrimPrefix(line, "scproxy run "))
				}
			}
			if args == nil {
				t.Fatalf("no command line:\n%s", out)
			}
			switch svc.bootstrap {
			case "username":
				args = append(args, "--username", "alice", "--password-env", "PW")
			case "mutual", "mutual10":
				args = append(args, "--cert-file", clientCert, "--key-file", clientKey)
			}
			echoThrough(t, append(args, "--ca-file", srv.CAFile(), "--listen", "127.0.0.1:0"))
		})
	}
}
