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
	return fmt.Sprintf("%s of a security context with %s failed: %v", opNoun[e.Op], e.Endpoint, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

var opNoun = map[wssc.Operation]string{wssc.Issue: "establishment", wssc.Renew: "renewal", wssc.Cancel: "cancellation"}
