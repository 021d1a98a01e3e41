package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/cxfpeer"
)

// TestSummariseCXF: medians over the kept rounds only, the ratio taken
// per round, the target judged on the worst round, each profile on its
// own row, and no row for a profile without runs.
func TestSummariseCXF(t *testing.T) {
	tls, msg := cxfProfileTLS, cxfProfileMessage
	runs := []cxfRun{
		{Round: 1, Kept: false, Profile: tls, Mode: cxfModeClient, Size: 1024, CPUus: 10},
		{Round: 1, Kept: false, Profile: tls, Mode: cxfModeProxy, Size: 1024, CPUus: 100},
		{Round: 2, Kept: true, Profile: tls, Mode: cxfModeClient, Size: 1024, CPUus: 1000},
		{Round: 2, Kept: true, Profile: tls, Mode: cxfModeProxy, Size: 1024, CPUus: 200},
		{Round: 3, Kept: true, Profile: tls, Mode: cxfModeClient, Size: 1024, CPUus: 800},
		{Round: 3, Kept: true, Profile: tls, Mode: cxfModeProxy, Size: 1024, CPUus: 480},
		{Round: 4, Kept: true, Profile: tls, Mode: cxfModeClient, Size: 1024, CPUus: 900},
		{Round: 4, Kept: true, Profile: tls, Mode: cxfModeProxy, Size: 1024, CPUus: 270},
		{Round: 2, Kept: true, Profile: msg, Mode: cxfModeClient, Size: 1024, CPUus: 4000},
		{Round: 2, Kept: true, Profile: msg, Mode: cxfModeProxy, Size: 1024, CPUus: 1000},
		{Round: 3, Kept: true, Profile: msg, Mode: cxfModeClient, Size: 1024, CPUus: 5000},
		{Round: 3, Kept: true, Profile: msg, Mode: cxfModeProxy, Size: 1024, CPUus: 2000},
	}
	rows := summariseCXF(runs, []string{tls, msg, "other"}, []int{1024})
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (sc-tls and message; none for a profile without runs)", len(rows))
	}
	r := rows[0]
	if r.Profile != tls || r.ClientCPUus != 900 || r.ProxyCPUus != 270 {
		t.Errorf("%s medians %v and %v, want sc-tls 900 and 270 (round 1 discarded)", r.Profile, r.ClientCPUus, r.ProxyCPUus)
	}
	if r.Ratio.Median != 0.3 || r.Ratio.Min != 0.2 || r.Ratio.Max != 0.6 {
		t.Errorf("ratio %+v, want median 0.3, min 0.2, max 0.6 (per round)", r.Ratio)
	}
	if r.Met {
		t.Errorf("met with a round at 0.6, want not met (every round must be ≤ 0.5)")
	}
	m := rows[1]
	if m.Profile != msg || m.ClientCPUus != 4500 || m.ProxyCPUus != 1500 {
		t.Errorf("%s medians %v and %v, want message 4500 and 1500 (its own runs only)", m.Profile, m.ClientCPUus, m.ProxyCPUus)
	}
	if m.Ratio.Min != 0.25 || m.Ratio.Max != 0.4 || !m.Met {
		t.Errorf("message ratio %+v met %v, want 0.25–0.4, met", m.Ratio, m.Met)
	}
}

// TestCXFQuickRun runs the yardstick end to end in its smoke
// configuration: the CXF service, CXF's two clients (SC over TLS and
// message security) and a proxy per profile, every figure measured, no
// message failed.
func TestCXFQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three JVMs and runs them for about two minutes")
	}
	cxfpeer.Require(t)
	jsonFile := filepath.Join(t.TempDir(), "cxf.json")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--cxf", "--quick", "--json", jsonFile}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, p := range []string{cxfProfileTLS, cxfProfileMessage} {
		if !strings.Contains(out.String(), "| "+p+" | 1 KB |") {
			t.Fatalf("no %s 1 KB row:\n%s", p, out.String())
		}
	}
	var rep cxfReport
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Profile != cxfProfileTLS || rep.Rows[1].Profile != cxfProfileMessage {
		t.Fatalf("rows %+v, want an sc-tls row and a message row", rep.Rows)
	}
	for _, r := range rep.Rows {
		for name, v := range map[string]float64{"CXF client CPU": r.ClientCPUus, "scproxy CPU": r.ProxyCPUus, "CXF client rate": r.ClientRate,
			"scproxy rate": r.ProxyRate, "ratio": r.Ratio.Median} {
			if !(v > 0) {
				t.Errorf("%s: %s is %v, want > 0", r.Profile, name, v)
			}
		}
	}
	// Every round has each profile's two sides, each with messages and
	// no error.
	seen := map[string]int{}
	for _, run := range rep.Runs {
		seen[run.Profile+" "+run.Mode]++
		if run.Errors != 0 || run.Messages == 0 {
			t.Errorf("%s %s round %d: %d messages, %d errors", run.Profile, run.Mode, run.Round, run.Messages, run.Errors)
		}
	}
	for _, p := range []string{cxfProfileTLS, cxfProfileMessage} {
		for _, m := range []string{cxfModeClient, cxfModeProxy} {
			if seen[p+" "+m] != rep.Rounds {
				t.Errorf("%s %s: %d runs, want one per round (%d)", p, m, seen[p+" "+m], rep.Rounds)
			}
		}
	}
}
