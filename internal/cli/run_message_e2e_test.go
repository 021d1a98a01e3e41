package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
)

// TestRunMessageProfileEndToEnd: `scproxy run --profile message` in front
// of the built-in server of that profile over plain HTTP: SOAP 1.1 and 1.2
// applications are answered, the context is cancelled when the proxy
// stops, and with --no-cancel it is not; the password shows nowhere.
func TestRunMessageProfileEndToEnd(t *testing.T) {
	for _, noCancel := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancel", true: "no-cancel"}[noCancel], func(t *testing.T) {
			srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"alice": canary},
				Message: &scserver.MessageSecurity{DerivedKeys: true, NoCancel: noCancel, Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapUsername}}})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			t.Cleanup(func() { ts.Close(); srv.Close() })
			cert, _ := srv.ServiceCertificate()
			certFile := filepath.Join(t.TempDir(), "service.pem")
			if err := os.WriteFile(certFile, testkit.PEM(cert), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"run", "--listen", "127.0.0.1:0", "--upstream", ts.URL + "/Echo.svc", "--log-format", "json", "--log-level", "debug",
				"--profile", "message", "--message-bootstrap", "username", "--server-cert", certFile, "--username", "alice", "--password-env", "PW"}
			if noCancel {
				args = append(args, "--no-cancel")
			}
			var out, errOut testkit.LogBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() { done <- Main(ctx, args, Streams{Out: &out, Err: &errOut, Getenv: mapEnv(baseEnv)}) }()
			addr := listening(t, &errOut, done)
			for _, app := range []struct{ contentType, action, body string }{
				{"text/xml; charset=utf-8", `"http://tempuri.org/IEchoService/EchoString"`,
					`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><EchoString xmlns="http://tempuri.org/"><echo>hello</echo></EchoString></s:Body></s:Envelope>`},
				{`application/soap+xml; charset=utf-8; action="http://tempuri.org/IEchoService/EchoString"`, "",
					`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><EchoString xmlns="http://tempuri.org/"><echo>hello</echo></EchoString></s:Body></s:Envelope>`},
			} {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(app.body))
				req.Header.Set("Content-Type", app.contentType)
				if app.action != "" {
					req.Header.Set("SOAPAction", app.action)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<echo>hello</echo>") {
					t.Fatalf("%s: %d %s", app.contentType, resp.StatusCode, b)
				}
			}
			stopCommand(t, cancel, done, ExitOK, &errOut)
			want := 1
			if noCancel {
				want = 0
			}
			if st := srv.Stats(); st.Issued != 1 || st.Cancelled != want {
				t.Fatalf("server: issued %d cancelled %d, want 1 and %d", st.Issued, st.Cancelled, want)
			}
			if strings.Contains(out.String()+errOut.String(), canary) {
				t.Fatal("the password shows in the output")
			}
		})
	}
}

// listening waits for the proxy's "scproxy listening" log line and
// returns its address.
func listening(t *testing.T, log *testkit.LogBuffer, done <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(log.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "scproxy listening" && rec.Addr != "" {
				return rec.Addr
			}
		}
		select {
		case code := <-done:
			t.Fatalf("the proxy exited %d: %s", code, log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("the proxy did not say where it listens: %s", log.String())
	return ""
}
