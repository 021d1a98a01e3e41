package session

import "time"

// upstreamFailure is an application request the service failed, as
// status shows it.
type upstreamFailure struct {
	reason string
	at     time.Time
}

// NoteUpstreamFailure records that an application request secured with
// this endpoint's context failed at the service (no connection, a
// timeout, an answer that is no SOAP): the context itself is fine, so the
// endpoint stays active, and status shows the failure beside it. reason
// must hold no secret; the errors scproxy makes never do.
func (e *Endpoint) NoteUpstreamFailure(reason string) {
	e.upstreamFailure.Store(&upstreamFailure{reason: reason, at: e.cfg.Now()})
}
