package outbound_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
)

// TestConnectRefusalVisible (what a newcomer hit): an application that
// keeps its https:// address and uses scproxy as its HTTP proxy asks for
// a tunnel; clients print only the status line of the refusal, so its
// reason phrase says what to change, and the log names the target.
func TestConnectRefusalVisible(t *testing.T) {
	var logs testkit.LogBuffer
	u := &url.URL{Scheme: "https", Host: "svc.example.com", Path: "/Orders.svc"}
	px := startProxy(t, outbound.Config{Security: outbound.SecurityNone, Routes: []outbound.Route{{Prefix: "/", Upstream: u}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(px.base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "CONNECT svc.example.com:443 HTTP/1.1\r\nHost: svc.example.com:443\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 405 scproxy needs http:// (it adds the security itself)\r\n"; line != want {
		t.Errorf("status line %q, want %q", line, want)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Allow") != http.MethodPost || !strings.Contains(string(body), "http:// instead of https://") || !strings.Contains(string(body), "MethodNotAllowed") {
		t.Errorf("headers %v body %s", resp.Header, body)
	}
	if got := logs.String(); !strings.Contains(got, "CONNECT refused") || !strings.Contains(got, "target=svc.example.com:443") {
		t.Errorf("log %q does not name the refused tunnel", got)
	}
}
