package scserver

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestAnnouncedBodiesAreNotPreallocated: 200 connections each announce a
// body of the server's limit (1 MiB) and send none of it. Once the server
// reads each body (it says 100 Continue when it does), its heap has grown
// by far less than the 200 MiB announced: memory follows the bytes that
// arrive.
func TestAnnouncedBodiesAreNotPreallocated(t *testing.T) {
	const (
		conns   = 200
		maxBody = 1 << 20
		margin  = 32 << 20
	)
	limits := xmldoc.DefaultLimits
	limits.MaxBytes = maxBody
	srv, err := New(Config{PlainHTTP: true, Users: map[string]string{testUser: testPassword}, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	addr := strings.TrimPrefix(ts.URL, "http://")
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"urn:x\"\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, maxBody)
	before := testkit.HeapInUse()
	testkit.AnnounceBodies(t, addr, head, conns)
	after := testkit.HeapInUse()
	grew := int64(after) - int64(before)
	t.Logf("heap %d KiB before, %d KiB with %d connections announcing %d bytes each (grew %d KiB)", before>>10, after>>10, conns, maxBody, grew>>10)
	if grew > margin {
		t.Errorf("the heap grew by %d MiB for bodies announced but not sent, want under %d MiB", grew>>20, margin>>20)
	}
}
