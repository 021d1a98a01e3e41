package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/cxfpeer"
)

// TestCXFInspected: `scproxy inspect` reads the descriptions of the CXF
// peer's endpoints (its ?wsdl with the policy it enforces attached, see
// wsdlpolicy/testdata): six sc-tls endpoints on its TLS listener and four
// message-security endpoints on its plain-HTTP one. `scproxy run` with
// exactly the flags it prints, plus the credential a user adds, reaches
// each endpoint: one echo comes back byte for byte.
func TestCXFInspected(t *testing.T) {
	setup(t)
	src := filepath.Join("..", "wsdlpolicy", "testdata")
	dir := t.TempDir()
	base := strings.TrimSuffix(shared.peer.URL(""), "/")
	files, err := filepath.Glob(filepath.Join(src, "cxf-*.wsdl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("https://127.0.0.1:8443"), []byte(base))
		b = bytes.ReplaceAll(b, []byte("http://127.0.0.1:8080"), []byte(shared.peer.Plain))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	served := map[string]cxfpeer.MsgScenario{}
	for _, s := range shared.peer.MsgScenarios() {
		served[s.Path] = s
	}
	ran := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".wsdl")
		if name == "cxf-echo" {
			continue // the contract
		}
		out, err := exec.Command(shared.scproxy, "inspect", "--format", "flags", "--cert-dir", dir, filepath.Join(dir, name+".wsdl")).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect %s: %v\n%s", name, err, out)
		}
		var args []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "scproxy run ") {
				args = strings.Fields(strings.TrimPrefix(line, "scproxy run "))
			}
		}
		if args == nil {
			t.Fatalf("inspect %s printed no command line:\n%s", name, out)
		}
		switch {
		case strings.Contains(name, "-ut-"), strings.HasPrefix(name, "cxf-msg-username-"):
			args = append(args, "--username", testUser, "--password-env", passwordEnv)
		case strings.HasPrefix(name, "cxf-msg-anonymous-"):
			// The anonymous bootstrap has no client credential.
		default:
			args = append(args, "--cert-file", shared.pki.ClientCert, "--key-file", shared.pki.ClientKey)
		}
		args = append(args, "--ca-file", shared.pki.CAFile)
		soap12 := strings.HasSuffix(name, "soap12")
		var msg *cxfpeer.MsgScenario
		if strings.HasPrefix(name, "cxf-msg-") {
			up := flagValue(args, "--upstream")
			s, ok := served[strings.TrimPrefix(up, shared.peer.Plain)]
			if !ok {
				t.Fatalf("%s describes %s, which the peer serves no message scenario at", name, up)
			}
			msg, soap12 = &s, s.SOAP12
		}
		t.Run(name, func(t *testing.T) {
			from, keysFrom := wireSize(t, shared.peer.WireLog), wireSize(t, shared.peer.KeyLog)
			px := startProxy(t, args...)
			if err := px.echo(t, soap12, echoElement(1, 500)); err != nil {
				t.Fatalf("%v\nflags: %q\nscproxy log:\n%s", err, args, px.output())
			}
			px.shutdown(t)
			if msg != nil {
				// One Issue, the echo under that context, and the Cancel
				// exactly when the policy allows one.
				checkMsgRun(t, *msg, only(readWire(t, shared.peer.WireLog, from), msg.Path),
					readKeyLog(t, shared.peer.KeyLog, keysFrom, msg.Path), 1, 0)
			}
		})
		ran++
	}
	if ran != 10 {
		t.Errorf("%d descriptions inspected, want 10", ran)
	}
}

// flagValue is the value given to flag name in args ("--name value" or
// "--name=value"), or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
