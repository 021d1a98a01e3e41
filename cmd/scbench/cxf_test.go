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
// per round, and the target judged on the worst round.
func TestSummariseCXF(t *testing.T) {
	runs := []cxfRun{
		{Round: 1, Kept: false, Mode: cxfModeClient, Size: 1024, CPUus: 10},
		{Round: 1, Kept: false, Mode: cxfModeProxy, Size: 1024, CPUus: 100},
		{Round: 2, Kept: true, Mode: cxfModeClient, Size: 1024, CPUus: 1000},
		{Round: 2, Kept: true, Mode: cxfModeProxy, Size: 1024, CPUus: 200},
		{Round: 3, Kept: true, Mode: cxfModeClient, Size: 1024, CPUus: 800},
		{Round: 3, Kept: true, Mode: cxfModeProxy, Size: 1024, CPUus: 480},
		{Round: 4, Kept: true, Mode: cxfModeClient, Size: 1024, CPUus: 900},
		{Round: 4, Kept: true, Mode: cxfModeProxy, Size: 1024, CPUus: 270},
	}
	rows := summariseCXF(runs, []int{1024})
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.ClientCPUus != 900 || r.ProxyCPUus != 270 {
		t.Errorf("medians %v and %v, want 900 and 270 (round 1 discarded)", r.ClientCPUus, r.ProxyCPUus)
	}
	if r.Ratio.Median != 0.3 || r.Ratio.Min != 0.2 || r.Ratio.Max != 0.6 {
		t.Errorf("ratio %+v, want median 0.3, min 0.2, max 0.6 (per round)", r.Ratio)
	}
	if r.Met {
		t.Errorf("met with a round at 0.6, want not met (every round must be ≤ 0.5)")
	}
}

// TestCXFQuickRun runs the yardstick end to end in its smoke
// configuration: the CXF service and client JVMs and a proxy, every
// figure measured, no message failed.
func TestCXFQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two JVMs and runs them for about a minute")
	}
	cxfpeer.Require(t)
	jsonFile := filepath.Join(t.TempDir(), "cxf.json")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--cxf", "--quick", "--json", jsonFile}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "| 1 KB |") {
		t.Fatalf("no 1 KB row:\n%s", out.String())
	}
	var rep cxfReport
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rep.Rows))
	}
	r := rep.Rows[0]
	for name, v := range map[string]float64{"CXF client CPU": r.ClientCPUus, "scproxy CPU": r.ProxyCPUus, "CXF client rate": r.ClientRate, "scproxy rate": r.ProxyRate} {
		if !(v > 0) {
			t.Errorf("%s is %v, want > 0", name, v)
		}
	}
	for _, run := range rep.Runs {
		if run.Errors != 0 || run.Messages == 0 {
			t.Errorf("%s round %d: %d messages, %d errors", run.Mode, run.Round, run.Messages, run.Errors)
		}
	}
}
