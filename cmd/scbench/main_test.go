package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestQuickRun runs the harness end to end in its smoke configuration
// (real processes: the demo server and one proxy per mode) and checks
// that the table has a row for every mode with its figures measured, that
// no message failed, and that the JSON parses and agrees.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds scproxy and runs it for about 15 s")
	}
	jsonFile := filepath.Join(t.TempDir(), "run.json")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--quick", "--json", jsonFile}, &out, &errOut)
	// A quick run keeps one round, so its baseline cannot vary: a refusal
	// here is a harness bug, not a busy machine.
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	table := out.String()
	rows := tableRows(table)
	for _, m := range []string{modeDirect, modePass, modeSCTLS, modeSCMessage, modeX509} {
		r, ok := rows["1 KB × 1|"+m]
		if !ok {
			t.Fatalf("no closed-loop row for %s:\n%s", m, table)
		}
		positive := []int{6, 7} // server CPU, msg/s
		if m != modeDirect {
			positive = append(positive, 2, 4, 5) // proxy CPU, allocations, bytes
		}
		for _, col := range positive {
			if v, err := strconv.ParseFloat(r[col], 64); err != nil || v <= 0 {
				t.Errorf("%s: column %d is %q, want a number > 0:\n%s", m, col, r[col], table)
			}
		}
		if r[12] != "0" {
			t.Errorf("%s: %s errors", m, r[12])
		}
	}
	var rep report
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the JSON does not parse: %v", err)
	}
	checkReport(t, &rep)
}

// checkReport checks the JSON's figures: two rounds with the first
// discarded, every measured mode summarised, establishment and memory
// measured.
func checkReport(t *testing.T, rep *report) {
	t.Helper()
	kept := map[bool]int{}
	for _, r := range rep.Runs {
		kept[r.Kept]++
		if r.Kept != (r.Round > 1) {
			t.Errorf("run of round %d kept=%v", r.Round, r.Kept)
		}
	}
	if kept[true] == 0 || kept[false] != kept[true] {
		t.Errorf("runs kept/discarded %d/%d, want the same number in each of the two rounds", kept[true], kept[false])
	}
	for _, s := range rep.Cells {
		if s.Mode == modeSCTLS && s.Cell.Rate == 0 && (!s.CPUvsPass.Valid() || s.CPUvsPass.Median <= 0) {
			t.Errorf("sc-tls %s: no CPU ratio against pass", s.Cell)
		}
	}
	est := map[string]establishFigure{}
	for _, e := range rep.Establishment {
		est[e.Bootstrap] = e
	}
	for _, b := range []string{"username", "certificate", "issued-token"} {
		if e := est[b]; e.Samples == 0 || e.Errors != 0 || e.P50ms <= 0 {
			t.Errorf("establishment with %s: %+v", b, e)
		}
	}
	if len(rep.Memory) != 2 || rep.Memory[1].Established != 10 || rep.Memory[1].BytesPerContext <= 0 {
		t.Errorf("memory figures %+v, want 10 endpoints held at a positive cost", rep.Memory)
	}
	if len(rep.Targets) == 0 {
		t.Error("no targets judged")
	}
}

// tableRows indexes the closed-loop table's rows by "cell|mode", each
// split into its trimmed cells.
func tableRows(table string) map[string][]string {
	rows := map[string][]string{}
	for line := range strings.Lines(table) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 13 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[0]+"|"+cells[1]] = cells
	}
	return rows
}

// TestFlags: the command line is checked before anything starts.
func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*options) bool
	}{
		{"defaults", nil, "", func(o *options) bool {
			return o.rounds == 5 && len(o.cells()) == 3*3+2 && o.endpoints[len(o.endpoints)-1] == 10000
		}},
		{"quick", []string{"--quick"}, "", func(o *options) bool { return o.rounds == 2 && len(o.cells()) == 3 }},
		{"unknown mode", []string{"--modes", "direct,tls"}, `unknown mode "tls"`, nil},
		{"one round", []string{"--rounds", "1"}, "at least 2", nil},
		{"no duration", []string{"--duration", "0s"}, "must be positive", nil},
		{"stray argument", []string{"now"}, "unexpected argument", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			o, err := parseFlags(tt.args, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				if code := run(context.Background(), tt.args, &errOut, &errOut); code != 2 {
					t.Errorf("exit %d, want 2 for a wrong command line", code)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("parseFlags = %+v, %v", o, err)
			}
		})
	}
}
