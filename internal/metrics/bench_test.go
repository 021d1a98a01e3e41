package metrics

import (
	"net/http"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
)

// BenchmarkObserveRequest is what the metrics add to one request: in
// flight, its outcome and one upstream call.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(fakeSource{}, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		m.RequestStarted()
		m.UpstreamCall("/orders", 3*time.Millisecond, false)
		m.RequestDone("/orders", outbound.Outcome{Status: http.StatusOK})
	}
}
