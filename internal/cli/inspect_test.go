package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
)

// wsdlDir holds the test descriptions, shaped like what WCF publishes and
// what the CXF peer serves.
const wsdlDir = "../../wsdlpolicy/testdata"

// inspect runs `scproxy inspect args` and returns its output.
func inspect(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"inspect"}, args...), Streams{Out: &out, Err: &errOut, Getenv: mapEnv(nil)})
	return out.String(), errOut.String(), code
}

// TestInspectGolden: the config block and the command lines printed for
// each test description, certificates written next to the output.
func TestInspectGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(wsdlDir, "*.wsdl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".wsdl")
		if name == "cxf-echo" || name == "orders.wsdl0" { // contracts, imported by the others
			continue
		}
		for _, format := range []string{"config", "flags"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				dir := t.TempDir()
				outFile := filepath.Join(dir, "out", "services.yaml")
				if err := os.MkdirAll(filepath.Dir(outFile), 0o755); err != nil {
					t.Fatal(err)
				}
				_, errOut, code := inspect(t, "--format", format, "--output", outFile, filepath.Join(wsdlDir, name+".wsdl"))
				if code != ExitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				got, err := os.ReadFile(outFile)
				if err != nil {
					t.Fatal(err)
				}
				got = bytes.ReplaceAll(got, []byte(dir), []byte("$DIR"))
				got = bytes.ReplaceAll(got, []byte(wsdlDir), []byte("$TESTDATA"))
				testkit.Golden(t, got)
				for _, line := range strings.Split(string(got), "\n") {
					if len(line) > 100 && strings.HasPrefix(strings.TrimSpace(line), "#") && !strings.Contains(line, "://") {
						t.Errorf("comment line over 100 columns: %q", line)
					}
				}
			})
		}
	}
}

// TestInspectCertificate: a published service certificate is written as
// PEM into --cert-dir, created when missing, and referenced.
func TestInspectCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	out, errOut, code := inspect(t, "--cert-dir", dir, filepath.Join(wsdlDir, "wshttp-message-username-nonego.wsdl"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	file := filepath.Join(dir, "wshttpbinding-iorders.pem")
	if !strings.Contains(out, "server-cert: "+file) {
		t.Errorf("output does not reference %s:\n%s", file, out)
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, testkit.Server().Cert.Raw) {
		t.Errorf("%s does not hold the published certificate", file)
	}
}

// TestInspectUsage: a missing argument or an unknown format is a usage
// error; an unreadable description is a run error naming it.
func TestInspectUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, ExitUsage, "accepts 1 arg"},
		{[]string{"--format", "json", "x.wsdl"}, ExitUsage, "want config or flags"},
		{[]string{filepath.Join(t.TempDir(), "none.wsdl")}, ExitError, "none.wsdl"},
		{[]string{filepath.Join(wsdlDir, "cxf-echo.wsdl")}, ExitError, "no SOAP endpoint"},
	}
	for _, tc := range tests {
		_, errOut, code := inspect(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d %q, want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestInspectedSettingsWork: every sc-tls endpoint of the test
// descriptions, pointed at the built-in server, is reached by `scproxy
// run` with exactly the flags inspect prints (plus the credential the
// user adds and the test CA): a SOAP 1.1 application's echo comes back.
func TestInspectedSettingsWork(t *testing.T) {
	srv := startBuiltIn(t, scserver.Config{Addr: "127.0.0.1:0", Users: map[string]string{"alice": canary}, TrustedCAs: testkit.Pool()})
	dir := t.TempDir()
	clientCert := writeFile(t, dir, "client.pem", string(testkit.PEM(testkit.Client().Cert)), 0o600)
	keyDER, err := x509.MarshalPKCS8PrivateKey(testkit.Client().Key)
	if err != nil {
		t.Fatal(err)
	}
	serverCert := writeFile(t, dir, "service.pem", string(testkit.PEM(testkit.Server().Cert)), 0o644)
	clientKey := writeFile(t, dir, "client.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	for _, name := range []string{"orders.wsdl0.wsdl", "cxf-echo.wsdl"} {
		copyRewritten(t, name, dir, "")
	}
	ran := 0
	for _, name := range []string{"wshttp-twmc-username", "ws2007-twmc-certificate", "custom-sc-kerberos", "cxf-ut-2005-soap11", "cxf-ut-13-soap12", "cxf-x509-13-soap11", "cxf-x509-2005-soap12", "cxf-ut-dk-2005-soap12", "cxf-ut-dk-13-soap11",
		"wshttp-message-username-nonego", "custom-sc-anonymous", "cxf-msg-anonymous-2005-soap12", "cxf-msg-username-13-soap11", "cxf-msg-mutual-13-soap12", "cxf-msg-mutual10-2005-soap12"} {
		file := copyRewritten(t, name+".wsdl", dir, srv.URL())
		out, errOut, code := inspect(t, "--format", "flags", "--cert-dir", dir, file)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "scproxy run ") {
				continue
			}
			args := strings.Fields(strings.TrimPrefix(line, "scproxy run "))
			switch {
			case strings.Contains(line, "--bootstrap username"):
				args = append(args, "--username", "alice", "--password-env", "PW")
			case strings.Contains(line, "--bootstrap certificate"):
				args = append(args, "--cert-file", clientCert, "--key-file", clientKey)
			case strings.Contains(line, "--bootstrap kerberos"):
				continue // needs a KDC: the bootstrap package's tests run one
			case strings.Contains(line, "--profile message"):
				if strings.Contains(line, "--message-bootstrap mutual") {
					args = append(args, "--cert-file", clientCert, "--key-file", clientKey)
				}
				if !strings.Contains(line, "--server-cert") { // the user adds the certificate the WSDL lacks
					args = append(args, "--server-cert", serverCert)
				}
				t.Run(name+"/message", func(t *testing.T) { messageSettingsValidate(t, args) })
				continue
			}
			args = append(args, "--ca-file", srv.CAFile(), "--listen", "127.0.0.1:0")
			t.Run(name, func(t *testing.T) {
				echoThrough(t, args)
			})
			ran++
		}
	}
	if ran != 8 {
		t.Errorf("%d sc-tls endpoints tried, want 8", ran)
	}
}

// messageSettingsValidate: the message profile's settings are accepted by
// `scproxy run` (with the credential the user adds).
func messageSettingsValidate(t *testing.T, args []string) {
	if slices.Contains(args, "username") {
		args = append(args, "--username", "alice", "--password-env", "PW")
	}
	var out bytes.Buffer
	cmd := NewCmdRun(Streams{Out: &out, Err: &out, Getenv: mapEnv(baseEnv)}, func(context.Context, *outbound.Config) error { return nil })
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Errorf("run %q: %v", args, err)
	}
}

// copyRewritten copies a test description into dir with the example
// service addresses replaced by base (when not empty).
func copyRewritten(t *testing.T, name, dir, base string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(wsdlDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if base != "" {
		for _, old := range []string{"https://svc.example.com", "http://svc.example.com", "https://127.0.0.1:8443", "http://127.0.0.1:8080"} {
			src = bytes.ReplaceAll(src, []byte(old), []byte(strings.TrimSuffix(base, "/")))
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoThrough runs `scproxy run args` and sends one SOAP 1.1 echo through
// the proxy, expecting it back.
func echoThrough(t *testing.T, args []string) {
	t.Helper()
	var cfg *outbound.Config
	var out bytes.Buffer
	cmd := NewCmdRun(Streams{Out: &out, Err: &out, Getenv: mapEnv(baseEnv)}, func(_ context.Context, c *outbound.Config) error { cfg = c; return nil })
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("run %q: %v", args, err)
	}
	p, err := outbound.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the proxy did not stop")
		}
	}()
	const payload = `<e:echo xmlns:e="urn:scproxy:inspect">inspected</e:echo>`
	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/",
		strings.NewReader(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+payload+`</s:Body></s:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"urn:scproxy:inspect/echo"`)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `xmlns:e="urn:scproxy:inspect"`) || !strings.Contains(string(body), ">inspected</e:echoResponse>") {
		t.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
}

// TestInspectedConfigChecks: the config block inspect writes for each
// reachable endpoint of the test descriptions, with the credential
// references a user fills in, passes `scproxy config check`.
func TestInspectedConfigChecks(t *testing.T) {
	dir := t.TempDir()
	clientCert := writeFile(t, dir, "client.pem", string(testkit.PEM(testkit.Client().Cert)), 0o600)
	keyDER, err := x509.MarshalPKCS8PrivateKey(testkit.Client().Key)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := writeFile(t, dir, "client.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	serverCert := writeFile(t, dir, "service.pem", string(testkit.PEM(testkit.Server().Cert)), 0o644)
	fill := strings.NewReplacer(
		"# username: USER", "username: alice",
		"# password-file: /etc/scproxy/", "password-env: PW\n    # ",
		"# cert-file: client.pem", "cert-file: "+clientCert,
		"# key-file: client.key", "key-file: "+clientKey,
		"# server-cert: service.pem", "server-cert: "+serverCert,
	)
	for _, name := range []string{"wshttp-twmc-username", "ws2007-twmc-certificate", "wshttp-message-username-nonego",
		"custom-sc-anonymous", "cxf-ut-13-soap12", "cxf-x509-2005-soap12", "cxf-msg-username-13-soap11", "cxf-msg-mutual10-2005-soap12"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".yaml")
			if _, errOut, code := inspect(t, "--output", file, filepath.Join(wsdlDir, name+".wsdl")); code != ExitOK {
				t.Fatalf("inspect: exit %d: %s", code, errOut)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(fill.Replace(string(b))), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), []string{"config", "check", file}, Streams{Out: &out, Err: &errOut, Getenv: mapEnv(baseEnv)}); code != ExitOK {
				b, _ := os.ReadFile(file)
				t.Errorf("config check: exit %d: %s%s\n%s", code, out.String(), errOut.String(), b)
			}
		})
	}
}

// startBuiltIn starts the built-in server with cfg for the test.
func startBuiltIn(t *testing.T, cfg scserver.Config) *scserver.Server {
	t.Helper()
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); srv.Close() })
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return srv
}
