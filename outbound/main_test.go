package outbound_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// renewal loop, rollover timer or request that outlives its proxy.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
