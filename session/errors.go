package session

import (
	"fmt"

	"github.com/scproxy/scproxy/wire/wssc"
)

// Error is a failed exchange with an endpoint's STS. Err is the cause: an
// *upstream.Error (the call failed), a *soap.Fault (the STS refused), or
// a protocol error in the answer. It never carries a secret.
type Error struct {
	Op       wssc.Operation
	Endpoint string
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s of a security context with %s failed: %v", opNames[e.Op].noun, e.Endpoint, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Doing names the failed exchange as an activity ("renewing"), for
// messages that say what was being done.
func (e *Error) Doing() string { return opNames[e.Op].doing }

var opNames = map[wssc.Operation]struct{ noun, doing string }{
	wssc.Issue:  {"establishment", "establishing"},
	wssc.Renew:  {"renewal", "renewing"},
	wssc.Cancel: {"cancellation", "cancelling"},
}
