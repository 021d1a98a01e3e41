package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serviceYAML writes the scenario as a service of a configuration file
// named name on prefix /name: its flags become keys of the same names.
func serviceYAML(name string, sc scenario, extra ...string) string {
	lines := []string{"  - name: " + name, "    prefix: /" + name}
	args := sc.args()
	for i := 0; i < len(args); i++ {
		key := strings.TrimPrefix(args[i], "--")
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			lines = append(lines, fmt.Sprintf("    %s: %q", key, args[i+1]))
			i++
			continue
		}
		lines = append(lines, "    "+key+": true")
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// TestCXFConfigReload: one configuration file, a service for each
// scenario, behind one listener against the CXF service; a reload
// (scproxy reload, SIGHUP) that removes a service, changes one and adds
// one keeps every other context: the service's own log shows no new
// Issue on their paths, a Cancel for the removed and the changed one, and
// a new Issue for the changed and the added one.
func TestCXFConfigReload(t *testing.T) {
	setup(t)
	scs := scenarios()
	dir := t.TempDir()
	file, pidFile := filepath.Join(dir, "scproxy.yaml"), filepath.Join(dir, "scproxy.pid")
	write := func(services ...string) {
		if err := os.WriteFile(file, []byte("services:\n"+strings.Join(services, "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var services []string
	for i, sc := range scs {
		services = append(services, serviceYAML(fmt.Sprintf("c%d", i), sc))
	}
	write(services...)
	wire := shared.peer.WireLog
	from := wireSize(t, wire)
	px := startProxy(t, "--config", file, "--pid-file", pidFile)
	echoAll := func(round int, names []int, scOf func(int) scenario) {
		for _, i := range names {
			if err := px.echoAt(t, fmt.Sprintf("/c%d", i), scOf(i).appSOAP12(), echoElement(round, 300)); err != nil {
				t.Fatalf("round %d, service c%d: %v\nscproxy log:\n%s", round, i, err, px.output())
			}
		}
	}
	all := make([]int, len(scs))
	for i := range all {
		all[i] = i
	}
	echoAll(1, all, func(i int) scenario { return scs[i] })
	xs := readWire(t, wire, from)
	for _, sc := range scs {
		if n := ops(only(xs, sc.path()))["Issue"]; n != 1 {
			t.Fatalf("%s: %d Issues for one service, want 1:\n%s", sc.path(), n, dump(only(xs, sc.path())))
		}
	}

	// Remove c0, change c1, add c9 on c0's endpoint.
	added := len(scs)
	next := append([]string{serviceYAML("c1", scs[1], "    upstream-timeout: 90s")}, services[2:]...)
	write(append(next, serviceYAML(fmt.Sprintf("c%d", added), scs[0]))...)
	from = wireSize(t, wire)
	reload := exec.Command(shared.scproxy, "reload", "--pid-file", pidFile, "--config", file)
	reload.Env = append(os.Environ(), passwordEnv+"="+testPassword) // the check reads the secrets
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("scproxy reload: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(px.output(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload in the log within 60 s:\n%s", px.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	scOf := func(i int) scenario {
		if i == added {
			return scs[0]
		}
		return scs[i]
	}
	echoAll(2, append(all[1:], added), scOf)
	xs = readWire(t, wire, from)
	for i, sc := range scs {
		got := ops(only(xs, sc.path()))
		want := map[string]int{"Issue": 0, "Cancel": 0}
		if i <= 1 { // c0 removed (c9 issues anew on its endpoint), c1 changed
			want = map[string]int{"Issue": 1, "Cancel": 1}
		}
		if got["Issue"] != want["Issue"] || got["Cancel"] != want["Cancel"] {
			t.Errorf("%s after the reload: %d Issues and %d Cancels, want %d and %d:\n%s", sc.path(), got["Issue"], got["Cancel"], want["Issue"], want["Cancel"], dump(only(xs, sc.path())))
		}
	}
	px.shutdown(t)
}
