package outbound

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Addresses are rewritten as published: case-insensitively at the
// upstream's path, cut at the same byte whatever case mapping does to a
// string's length, and with their escapes kept (an encoded '?' stays a
// path byte).
func TestRewriteAddressesKeepsTheRest(t *testing.T) {
	const local = "http://127.0.0.1:8780/x"
	for _, tc := range []struct {
		name, remote, published, want string
	}{
		{"case differs", "https://up/Svc/Orders.svc", "https://up/svc/ORDERS.SVC/ep2", local + "/ep2"},
		{"escapes kept", "https://up/svc", "http://up/svc/a%3Fb%2F..%2Fc", local + "/a%3Fb%2F..%2Fc"},
		{"a letter whose lower case is longer", "https://up/ⱥ", "http://up/Ⱥ/ep", "http://up/Ⱥ/ep"},
		{"a prefix of a longer segment", "https://up/svc", "http://up/svc2", "http://up/svc2"},
		{"query kept", "https://up/svc", "http://up/svc?wsdl=wsdl0", local + "?wsdl=wsdl0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/"><d:service><d:port><s:address location="` + tc.published + `"/></d:port></d:service></d:definitions>`
			out, err := rewriteAddresses([]byte(in), tc.remote, local, xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if want := `location="` + tc.want + `"`; !strings.Contains(string(out), want) {
				t.Errorf("got %s, want %s", out, want)
			}
		})
	}
}

// The description cache holds at most metadataEntries entries and
// metadataBytes bytes, dropping the oldest first; a body larger than the
// budget is not kept.
func TestMetadataCacheBounds(t *testing.T) {
	var m metadata
	t0 := time.Unix(0, 0)
	for i := range metadataEntries + 10 {
		m.put(fmt.Sprint("small", i), metadataEntry{body: []byte("x"), fetched: t0.Add(time.Duration(i) * time.Second)})
	}
	if len(m.entries) != metadataEntries || m.entries["small0"].body != nil || m.entries[fmt.Sprint("small", metadataEntries+9)].body == nil {
		t.Fatalf("%d entries after %d puts; the oldest must go first", len(m.entries), metadataEntries+10)
	}
	big := make([]byte, metadataBytes/3+1)
	for i := range 4 {
		m.put(fmt.Sprint("big", i), metadataEntry{body: big, fetched: t0.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	if m.size > metadataBytes || m.entries["big0"].body != nil || m.entries["big3"].body == nil {
		t.Fatalf("%d bytes cached (budget %d); the oldest big entry must go first", m.size, metadataBytes)
	}
	total := 0
	for _, e := range m.entries {
		total += len(e.body)
	}
	if total != m.size {
		t.Fatalf("size %d, entries hold %d", m.size, total)
	}
	m.put("huge", metadataEntry{body: make([]byte, metadataBytes+1), fetched: t0.Add(2 * time.Hour)})
	if _, ok := m.entries["huge"]; ok {
		t.Fatal("a body over the whole budget was kept")
	}
}
