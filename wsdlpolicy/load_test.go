package wsdlpolicy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// wcfServer serves a description the way WCF publishes one: ?wsdl holds
// the binding and policy and imports the contract from ?wsdl=wsdl0; the
// bare address answers a help page. It records every request.
type wcfServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	// pages maps a request URI to its answer; "" answers 404.
	pages map[string]string
}

func newWCFServer(t *testing.T) *wcfServer {
	t.Helper()
	main, err := os.ReadFile(filepath.Join("testdata", "wshttp-twmc-username.wsdl"))
	if err != nil {
		t.Fatal(err)
	}
	contract, err := os.ReadFile(filepath.Join("testdata", "orders.wsdl0.wsdl"))
	if err != nil {
		t.Fatal(err)
	}
	s := &wcfServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r)
		page, ok := s.pages[r.URL.RequestURI()]
		s.mu.Unlock()
		switch {
		case !ok:
			http.Error(w, "no such page", http.StatusNotFound)
		case strings.HasPrefix(page, "redirect:"):
			http.Redirect(w, r, strings.TrimPrefix(page, "redirect:"), http.StatusFound)
		case strings.HasPrefix(page, "<html"):
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(page))
		default:
			w.Header().Set("Content-Type", "text/xml")
			_, _ = w.Write([]byte(page))
		}
	}))
	t.Cleanup(s.Close)
	base := s.URL + "/Orders.svc"
	s.pages = map[string]string{
		"/Orders.svc":            "<html><body>You have created a service.</body></html>",
		"/Orders.svc?wsdl":       strings.ReplaceAll(strings.ReplaceAll(string(main), "https://svc.example.com/Orders.svc", base), `location="orders.wsdl0.wsdl"`, `location="`+base+`?wsdl=wsdl0"`),
		"/Orders.svc?wsdl=wsdl0": string(contract),
	}
	return s
}

func (s *wcfServer) loader() *Loader {
	return &Loader{Client: s.Client()}
}

func (s *wcfServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.seen...)
}

// TestLoadWCF: a service address without a query is read at ?wsdl, the
// import at ?wsdl=wsdl0 is followed, and no request carries a credential
// or a cookie.
func TestLoadWCF(t *testing.T) {
	s := newWCFServer(t)
	d, err := s.loader().Load(context.Background(), s.URL+"/Orders.svc")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{s.URL + "/Orders.svc?wsdl", s.URL + "/Orders.svc?wsdl=wsdl0"}
	if got := d.Locations(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("read %q, want %q", got, want)
	}
	eps, err := d.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if eps[0].Settings.Profile != ProfileSCOverTLS || eps[0].Address != s.URL+"/Orders.svc" {
		t.Errorf("endpoint %+v", eps[0])
	}
	for _, r := range s.requests() {
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			t.Errorf("request %s %s with Authorization %q Cookie %q", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("Cookie"))
		}
	}
}

// TestLoadRefuses: what Load will not read, each with an error naming why.
func TestLoadRefuses(t *testing.T) {
	s := newWCFServer(t)
	big := "<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\">" + strings.Repeat(" ", 2<<10) + "</wsdl:definitions>"
	s.pages["/big?wsdl"] = big
	s.pages["/to-file?wsdl"] = "redirect:file:///etc/passwd"
	s.pages["/to-http?wsdl"] = "redirect:http://127.0.0.1:9/x"
	delete(s.pages, "/Orders.svc?wsdl=wsdl0")
	s.pages["/dtd?wsdl"] = `<!DOCTYPE x [<!ENTITY a "b">]><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"/>`
	s.pages["/schema?wsdl"] = `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>`
	s.pages["/loop?wsdl"] = `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:import location="/loop?wsdl=1"/></wsdl:definitions>`
	for i := 1; i < 10; i++ {
		s.pages["/loop?wsdl="+string(rune('0'+i))] = `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:import location="/loop?wsdl=` + string(rune('0'+i+1)) + `"/></wsdl:definitions>`
	}
	s.pages["/fileimport?wsdl"] = `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:import location="file:///etc/passwd"/></wsdl:definitions>`
	tests := []struct {
		name, location string
		limits         Limits
		want           string
	}{
		{"larger than the cap", s.URL + "/big", Limits{MaxBytes: 1 << 10}, "larger than 1024 bytes"},
		{"redirect to a file", s.URL + "/to-file", Limits{}, "redirected to a file: URL"},
		{"redirect from https to http", s.URL + "/to-http", Limits{}, "from https to http"},
		{"no such page", s.URL + "/nothing", Limits{}, `/nothing?wsdl answered HTTP 404: "no such page"`},
		{"missing import names singleWsdl", s.URL + "/Orders.svc", Limits{}, "?singleWsdl"},
		{"document type declaration", s.URL + "/dtd", Limits{}, "document type declarations"},
		{"not a WSDL", s.URL + "/schema", Limits{}, "not a WSDL 1.1 description"},
		{"imports too deep", s.URL + "/loop", Limits{}, "deeper than 4"},
		{"too many documents", s.URL + "/loop", Limits{MaxDocs: 3, MaxDepth: 10}, "more than 3 documents"},
		{"a remote document imports a file", s.URL + "/fileimport", Limits{}, "file: location is not read"},
		{"credentials in the URL", "https://alice:pw@svc.example.com/x.svc", Limits{}, "holds credentials"},
		{"other scheme", "ftp://svc.example.com/x.wsdl", Limits{}, "only http://, https:// and file names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := s.loader()
			l.Limits = tc.limits
			_, err := l.Load(context.Background(), tc.location)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw@") || strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("error %q repeats a credential or a control character", err)
			}
		})
	}
}

// TestLoadErrorPage: an HTTP error keeps a bounded, printable excerpt of
// what the service said.
func TestLoadErrorPage(t *testing.T) {
	s := newWCFServer(t)
	s.pages["/down?wsdl"] = ""
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("\x1b[31mThe service is\n\tdown for maintenance" + strings.Repeat(" and more", 100)))
	})
	_, err := s.loader().Load(context.Background(), s.URL+"/down?wsdl")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "answered HTTP 503") || !strings.Contains(msg, "The service is down for maintenance") || strings.ContainsRune(msg, 0x1b) || len(msg) > 400 {
		t.Errorf("error %q: want the status and a short printable excerpt", msg)
	}
}

// TestLoadFileImports: a description given as a file imports files
// relative to itself.
func TestLoadFileImports(t *testing.T) {
	d, err := (&Loader{}).Load(context.Background(), filepath.Join("testdata", "cxf-ut-13-soap12.wsdl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Locations(); len(got) != 2 || got[1] != filepath.Join("testdata", "cxf-echo.wsdl") {
		t.Errorf("read %q", got)
	}
}
