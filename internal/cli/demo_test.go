package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// The demo runs the whole path against the built-in service and its trace
// shows one establishment and every call verified and answered.
func TestDemoRuns(t *testing.T) {
	// Who the service says authenticated, per bootstrap.
	who := map[string]string{"username": "user:demo", "certificate": "x509:CN=legacy app", "issued-token": "saml:demo"}
	// The bootstrap the proxy names, per message bootstrap.
	messageKind := map[string]string{"anonymous": "anonymous-for-certificate", "username": "username-for-certificate", "mutual": "mutual-certificate", "mutual10": "mutual-certificate10"}
	messageWho := map[string]string{"anonymous": "anonymous", "username": "user:demo", "mutual": "x509:CN=legacy app", "mutual10": "x509:CN=legacy app"}
	type run struct {
		args                     []string
		bootstrap, authenticated string
		message                  bool
	}
	runs := []run{{args: []string{"--sc-version", "2005-02", "--bootstrap", "username"}, bootstrap: "username", authenticated: who["username"]}}
	for _, b := range demoBootstrapNames() {
		runs = append(runs, run{args: []string{"--sc-version", "1.3", "--bootstrap", b}, bootstrap: b, authenticated: who[b]})
	}
	for _, v := range []string{"2005-02", "1.3"} {
		for _, b := range demoMessageBootstrapNames() {
			runs = append(runs, run{args: []string{"--sc-version", v, "--profile", "message", "--message-bootstrap", b}, bootstrap: messageKind[b], authenticated: messageWho[b], message: true})
		}
	}
	for _, r := range runs {
		t.Run(strings.Join(r.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), append([]string{"demo", "--calls", "4"}, r.args...), Streams{Out: &out, Err: &errb})
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
			}
			trace := out.String()
			if !strings.Contains(trace, "authenticated "+r.authenticated) || !strings.Contains(trace, "(bootstrap "+r.bootstrap) {
				t.Errorf("the trace does not show the %s bootstrap authenticated as %q:\n%s", r.bootstrap, r.authenticated, trace)
			}
			if n := strings.Count(trace, "security context established: urn:uuid:"); n != 1 {
				t.Errorf("%d establishments in the trace, want 1:\n%s", n, trace)
			}
			verified, summary := "signature verified with context", "verified 4 signed message"
			if r.message {
				// Every message, the Issue included, is signed and
				// encrypted, over plain HTTP.
				verified, summary = "body decrypted, echoed signed and encrypted", "verified and decrypted 4 signed, encrypted message"
				if !strings.Contains(trace, "signed and encrypted under the ") || !strings.Contains(trace, "service  http://") {
					t.Errorf("the trace does not show a protected Issue over plain HTTP:\n%s", trace)
				}
			}
			if n := strings.Count(trace, verified); n != 4 {
				t.Errorf("%d verified calls, want 4:\n%s", n, trace)
			}
			if n := strings.Count(trace, "<- SOAP 1.1 EchoStringResponse"); n != 4 {
				t.Errorf("%d answers, want 4:\n%s", n, trace)
			}
			// The service asks for a renewal at the key's third message: the
			// proxy renews, resends, and the application never sees it.
			if n := strings.Count(trace, "fault RenewNeeded"); n != 1 {
				t.Errorf("%d RenewNeeded faults in the trace, want 1:\n%s", n, trace)
			}
			if n := strings.Count(trace, "security context renewed: urn:uuid:"); n != 1 {
				t.Errorf("%d renewals in the trace, want 1:\n%s", n, trace)
			}
			if n := strings.Count(trace, "security context cancelled: urn:uuid:"); n != 1 {
				t.Errorf("%d cancellations in the trace, want 1:\n%s", n, trace)
			}
			if !regexp.MustCompile(`4 calls answered, none failed; the service issued 1 context, renewed it 1 time\(s\) .*` + regexp.QuoteMeta(summary) + `\(s\), answered 1 RenewNeeded fault\(s\) .*cancelled 1 context at shutdown`).MatchString(trace) {
				t.Errorf("summary missing:\n%s", trace)
			}
		})
	}
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{{"demo", "--calls", "0"}, {"demo", "--sc-version", "1.2"}, {"demo", "extra"}, {"demo", "--bootstrap", "saml"},
		{"demo", "--profile", "tls"}, {"demo", "--message-bootstrap", "anonymous"}, {"demo", "--profile", "message", "--bootstrap", "username"},
		{"demo", "--profile", "message", "--message-bootstrap", "kerberos"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, Streams{Out: &out, Err: &errb}); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errb.String())
		}
		if lines := strings.Count(strings.TrimSpace(errb.String()), "\n"); lines != 0 {
			t.Errorf("%v: %d-line error: %s", args, lines+1, errb.String())
		}
	}
}
