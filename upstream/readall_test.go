package upstream

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestReadAllFollowsTheBytes: ReadAll's memory follows the bytes that
// arrive, whatever length was announced: a truthful body costs at most
// twice its size (its exact size plus one when short), a short one no
// more than its own growth, and the charge sees every allocation and can
// end the read.
func TestReadAllFollowsTheBytes(t *testing.T) {
	tests := []struct {
		name      string
		body      int
		announced int64
		maxCap    int
	}{
		{"small, announced", 100, 100, 101},
		{"small, unknown", 100, -1, firstRead},
		{"announced 4 MiB, none sent", 0, 4 << 20, firstRead},
		{"announced 4 MiB, 10 KiB sent", 10 << 10, 4 << 20, 2 * (10 << 10)},
		{"1 MiB, announced", 1 << 20, 1 << 20, 2 << 20},
		{"1 MiB, unknown", 1 << 20, -1, 2 << 20},
		{"longer than announced", 10 << 10, 100, 4 * (10 << 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			charged := 0
			b, err := ReadAllCharged(strings.NewReader(strings.Repeat("x", tc.body)), tc.announced, func(n int) error {
				charged += n
				return nil
			})
			if err != nil || len(b) != tc.body {
				t.Fatalf("read %d bytes (%v), want %d", len(b), err, tc.body)
			}
			if cap(b) > tc.maxCap || charged != cap(b) {
				t.Errorf("capacity %d, charged %d; want the charge equal to the capacity, at most %d", cap(b), charged, tc.maxCap)
			}
		})
	}
	stop := errors.New("over budget")
	b, err := ReadAllCharged(bytes.NewReader(make([]byte, 1<<20)), 1<<20, func(n int) error {
		if n > 64<<10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(b) > 128<<10 {
		t.Errorf("a refused charge: read %d bytes, error %v; want the charge's error at 64 KiB", len(b), err)
	}
}
