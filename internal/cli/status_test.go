package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
)

// table reads what printStatus printed: the headings, and each row as a
// map from heading to value. The columns are aligned, at least two spaces
// apart, so a value lies under its heading.
func table(t *testing.T, out string) ([]string, []map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	header := lines[0]
	var names []string
	var starts []int
	for _, loc := range regexp.MustCompile(`\S+( \S+)*`).FindAllStringIndex(header, -1) {
		names = append(names, header[loc[0]:loc[1]])
		starts = append(starts, loc[0])
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		if strings.HasPrefix(line, "REQ requests") { // the legend ends the table
			break
		}
		row := map[string]string{}
		for i, name := range names {
			end := len(line)
			if i+1 < len(starts) && starts[i+1] < end {
				end = starts[i+1]
			}
			if starts[i] < end {
				row[name] = strings.TrimSpace(line[starts[i]:end])
			}
		}
		rows = append(rows, row)
	}
	return names, rows
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	active := session.Status{
		Endpoint: "https://svc.example/A.svc", State: session.StateActive, Identifier: "urn:uuid:7d1c0e55-2f8a-4a5e-9e54-0c3c54d1a001",
		Established: now.Add(-time.Hour), Expires: now.Add(14 * time.Hour), NextRenewal: now.Add(8*time.Hour + 30*time.Minute),
		Requests: 12, Establishes: 1, Renewals: 2, Resends: 3, Cancels: 4,
	}
	idle := session.Status{Endpoint: "https://svc.example/B.svc", State: session.StateIdle}
	upFailing := session.Status{
		Endpoint: "https://svc.example/D.svc", State: session.StateActive, Identifier: "urn:uuid:u",
		LastUpstreamError: `https://svc.example/D.svc answered HTTP 415 with "text/plain"`, LastUpstreamErrorAt: now.Add(-5 * time.Second),
	}
	failing := session.Status{
		Endpoint: "https://svc.example/C.svc", State: session.StateFailing, Identifier: "urn:uuid:c",
		Expires: now.Add(-3 * time.Minute), NextRenewal: now.Add(90*time.Second + 400*time.Millisecond),
		Requests: 7, LastError: "upstream unreachable: connection refused",
	}
	wantHeadings := []string{"ENDPOINT", "STATE", "EXPIRES", "RENEWAL", "REQ", "ISS", "REN", "RES", "CAN"}
	long := session.Status{
		Endpoint: "https://orders-service.internal.example.com:8443/Services/Orders/OrderService.svc/ws2007", State: session.StateRenewing,
		Expires: now.Add(9999 * time.Hour), NextRenewal: now.Add(9000 * time.Hour), Requests: 12345678, Establishes: 123, Renewals: 4567, Resends: 890, Cancels: 122,
		LastError: strings.Repeat("the STS answered HTTP 415 ", 12), LastErrorAt: now.Add(-time.Minute),
		LastUpstreamError: "https://orders-service.internal.example.com:8443/" + strings.Repeat("x", 150) + " answered HTTP 502", LastUpstreamErrorAt: now.Add(-2 * time.Second),
	}

	tests := []struct {
		name    string
		st      outbound.Status
		want    []map[string]string // nil: no table
		line    string              // the whole output, when there is no table
		details []string            // lines after the table, in order
	}{
		{"no endpoint", outbound.Status{Security: "context", Endpoints: []session.Status{}}, nil,
			"no endpoint has been used yet (security context)\n", nil},
		{"no endpoint, plain forwarding", outbound.Status{Security: "none"}, nil,
			"no endpoint has been used yet (security none)\n", nil},
		{"active", outbound.Status{Security: "context", Endpoints: []session.Status{active}}, []map[string]string{{
			"ENDPOINT": active.Endpoint, "STATE": "active", "EXPIRES": "in 14h0m", "RENEWAL": "in 8h30m",
			"REQ": "12", "ISS": "1", "REN": "2", "RES": "3", "CAN": "4",
		}}, "", nil},
		{"missing values are dashes", outbound.Status{Security: "context", Endpoints: []session.Status{idle}}, []map[string]string{{
			"ENDPOINT": idle.Endpoint, "STATE": "idle", "EXPIRES": "-", "RENEWAL": "-",
			"REQ": "0", "ISS": "0", "REN": "0", "RES": "0", "CAN": "0",
		}}, "", nil},
		{"past and rounded times, last error", outbound.Status{Security: "context", Endpoints: []session.Status{failing}}, []map[string]string{{
			"ENDPOINT": failing.Endpoint, "STATE": "failing", "EXPIRES": "3m0s ago", "RENEWAL": "in 1m30s", "REQ": "7",
		}}, "", []string{"", failing.Endpoint, "  context urn:uuid:c, established -", "  last error, -: upstream unreachable: connection refused"}},
		{"last failed request of an active context", outbound.Status{Security: "context", Endpoints: []session.Status{upFailing}}, []map[string]string{{
			"ENDPOINT": upFailing.Endpoint, "STATE": "active",
		}}, "", []string{"", upFailing.Endpoint, "  context urn:uuid:u, established -", "  last failed request, 5s ago: " + upFailing.LastUpstreamError}},
		{"every endpoint in the order given", outbound.Status{Security: "context", Endpoints: []session.Status{failing, idle, active}},
			[]map[string]string{
				{"ENDPOINT": failing.Endpoint, "STATE": "failing"},
				{"ENDPOINT": idle.Endpoint, "STATE": "idle"},
				{"ENDPOINT": active.Endpoint, "STATE": "active"},
			}, "", nil},
		{"long values fit 100 columns", outbound.Status{Security: "context", Endpoints: []session.Status{long, active}},
			[]map[string]string{
				{"ENDPOINT": "https://orders-s…rvice.svc/ws2007", "STATE": "renewing", "EXPIRES": "in 9999h0m", "REQ": "12345678"},
				{"ENDPOINT": active.Endpoint, "STATE": "active"},
			}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printStatus(&out, tc.st, now); err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if out.String() != tc.line {
					t.Errorf("output %q, want %q", out.String(), tc.line)
				}
				return
			}
			names, rows := table(t, out.String())
			if strings.Join(names, "|") != strings.Join(wantHeadings, "|") {
				t.Errorf("headings %q, want %q", names, wantHeadings)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), len(tc.want), out.String())
			}
			for i, want := range tc.want {
				for col, v := range want {
					if rows[i][col] != v {
						t.Errorf("row %d %s = %q, want %q", i, col, rows[i][col], v)
					}
				}
			}
			for _, line := range strings.Split(out.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > 100 {
					t.Errorf("line of %d columns: %q", n, line)
				}
			}
			if tc.details != nil {
				_, after, _ := strings.Cut(out.String(), "CAN cancelled\n")
				if got := strings.Split(strings.TrimSuffix(after, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tc.details, "\n") {
					t.Errorf("details\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.details, "\n"))
				}
			}
		})
	}
}

// cannedStatus is what a proxy with one active endpoint serves.
const cannedStatus = `{
  "security": "context",
  "endpoints": [
    {
      "endpoint": "https://svc.example/Echo.svc",
      "state": "active",
      "identifier": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
      "established": "2025-03-04T09:00:00Z",
      "expires": "2099-03-05T00:00:00Z",
      "next_renewal": "2099-03-04T19:00:00Z",
      "requests": 42,
      "establishes": 1,
      "renewals": 0,
      "resends": 0,
      "cancels": 0,
      "failures": 0,
      "bootstrap": "username",
      "sc_version": "2005-02",
      "renew_mode": "renew"
    }
  ]
}
`

// statusServer serves body with code on every request, and records the
// method and path of the last one.
func statusServer(t *testing.T, code int, contentType, body string) (addr string, last func() string) {
	t.Helper()
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Method + " " + r.URL.Path:
		default:
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() string {
		select {
		case s := <-got:
			return s
		default:
			return ""
		}
	}
}

// runStatusMain runs `scproxy status args` through Main.
func runStatusMain(env map[string]string, args ...string) (code int, out, errOut string) {
	var o, e bytes.Buffer
	code = Main(context.Background(), append([]string{"status"}, args...), Streams{Out: &o, Err: &e, Getenv: mapEnv(env)})
	return code, o.String(), e.String()
}

func TestStatusMain(t *testing.T) {
	addr, last := statusServer(t, http.StatusOK, "application/json", cannedStatus)

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runStatusMain(nil, "--listen", addr, "--json")
		if code != ExitOK || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if req := last(); req != "GET "+outbound.StatusPath {
			t.Errorf("request %q, want GET %s", req, outbound.StatusPath)
		}
		var st outbound.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if len(st.Endpoints) != 1 || st.Endpoints[0].Identifier != "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e" ||
			st.Endpoints[0].State != session.StateActive || st.Endpoints[0].Requests != 42 {
			t.Errorf("status %+v", st)
		}
	})

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"table", nil, []string{"--listen", addr}},
		{"address from the environment", map[string]string{"SCPROXY_LISTEN": addr}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runStatusMain(tc.env, tc.args...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			_, rows := table(t, out)
			if len(rows) != 1 {
				t.Fatalf("want one endpoint:\n%s", out)
			}
			r := rows[0]
			if r["ENDPOINT"] != "https://svc.example/Echo.svc" || r["STATE"] != "active" ||
				r["REQ"] != "42" || !strings.HasPrefix(r["EXPIRES"], "in ") || strings.Contains(out, "last error") {
				t.Errorf("row %v", r)
			}
		})
	}
}

// TestStatusMainFailures: an answer that is not a proxy's status is exit
// 1 with one line saying what answered, with or without --json.
func TestStatusMainFailures(t *testing.T) {
	tests := []struct {
		name        string
		code        int
		contentType string
		body        string
		json        bool
		want        string
	}{
		{"500", http.StatusInternalServerError, "text/plain", "boom", false, "answered HTTP 500"},
		{"500 --json", http.StatusInternalServerError, "text/plain", "boom", true, "answered HTTP 500"},
		{"404 of another server", http.StatusNotFound, "text/html", "<html>not here</html>", false, "answered HTTP 404"},
		{"not JSON", http.StatusOK, "text/html", "<html>a web app</html>", false, "is not a scproxy status"},
		{"not JSON --json", http.StatusOK, "text/html", "<html>a web app</html>", true, "is not a scproxy status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := statusServer(t, tc.code, tc.contentType, tc.body)
			args := []string{"--listen", addr}
			if tc.json {
				args = append(args, "--json")
			}
			code, out, errOut := runStatusMain(nil, args...)
			if code != ExitError {
				t.Errorf("exit code %d, want %d (stdout %q)", code, ExitError, out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "scproxy: ") ||
				!strings.Contains(errOut, addr) || !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q, want one line naming %s with %q", errOut, addr, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
