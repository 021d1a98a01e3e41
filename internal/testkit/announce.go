package testkit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// HeapInUse is the live heap after a collection.
func HeapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// AnnounceBodies opens conns connections to addr, each sending head (a
// request head with Content-Length and "Expect: 100-continue") and no
// body, and returns once the server has said 100 Continue on every one:
// its handler has started reading each body. The connections stay open
// until the test ends.
func AnnounceBodies(t testing.TB, addr, head string, conns int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Go(func() {
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, head); err != nil {
				errs <- err
				return
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(line, "100 Continue") {
				errs <- fmt.Errorf("want 100 Continue, got %q (%v)", line, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
