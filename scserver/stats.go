package scserver

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// maxFailures is how many recent failure reasons Stats keeps.
const maxFailures = 32

// Stats are the server's counters since it started. ForgetAll does not
// reset them: they describe what the server did, not what it remembers.
type Stats struct {
	Requests  int // HTTP requests, scripted failures included
	Issued    int // contexts issued
	Renewed   int // renewals
	Cancelled int // cancellations
	Verified  int // application messages accepted
	Rejected  int // requests answered with a fault
	// Faults counts the faults sent by code (local name of the most
	// specific code, such as "BadContextToken" or "FailedCheck").
	Faults map[string]int
	// Contexts are the per-context counters, keyed by Identifier: one
	// entry per context this server issued (or was given with
	// AddContext), kept until some minutes after the context expired, so
	// that a long-running server does not grow without bound. A
	// rejected message naming any other identifier counts in
	// RejectedUnknown instead: identifiers an unauthenticated sender
	// makes up get no entry.
	Contexts map[string]ContextStats
	// RejectedUnknown counts the rejections that named a context with no
	// entry in Contexts (never issued here, or ended long ago); their
	// reasons are in LastFailures.
	RejectedUnknown int
	// LastFailures are the most recent fault reasons, oldest first.
	LastFailures []string
	// TokensIssued counts the SAML tokens of the token service.
	TokensIssued int
}

// ContextStats are one context's counters.
type ContextStats struct {
	Verified    int // application messages accepted
	Rejected    int // messages naming this context that were refused
	Renewed     int
	Cancelled   bool
	LastFailure string // reason of the latest rejection, "" if none
	// Expires is the end of the context's lifetime, as last issued or
	// renewed.
	Expires time.Time
}

// stats is the concurrency-safe counter set behind Stats.
type stats struct {
	mu sync.Mutex
	s  Stats
}

func newStats() *stats {
	return &stats{s: Stats{Faults: map[string]int{}, Contexts: map[string]ContextStats{}}}
}

// update applies fn to the counters, and to the context's when id names
// one with an entry (see track); otherwise fn gets a scratch
// ContextStats.
func (st *stats) update(id string, fn func(*Stats, *ContextStats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	cs, ok := st.s.Contexts[id]
	fn(&st.s, &cs)
	if ok {
		st.s.Contexts[id] = cs
	}
}

// track gives context id an entry, or moves its expiry: the server
// issued, renewed, restored or was given it.
func (st *stats) track(id string, expires time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	cs := st.s.Contexts[id]
	cs.Expires = expires
	st.s.Contexts[id] = cs
}

func (st *stats) request() { st.update("", func(s *Stats, _ *ContextStats) { s.Requests++ }) }

// reject records a fault; id is the context the message named, "" if
// none. Only a context with an entry gets the rejection in its counters.
func (st *stats) reject(id, code, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := &st.s
	s.Rejected++
	s.Faults[code]++
	s.LastFailures = append(s.LastFailures, reason)
	if n := len(s.LastFailures); n > maxFailures {
		s.LastFailures = slices.Clone(s.LastFailures[n-maxFailures:])
	}
	cs, ok := s.Contexts[id]
	switch {
	case ok:
		cs.Rejected++
		cs.LastFailure = reason
		s.Contexts[id] = cs
	case id != "":
		s.RejectedUnknown++
	}
}

// sweep drops the entries of contexts that ended at now, by the store's
// rule (endedKept past their expiry).
func (st *stats) sweep(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, cs := range st.s.Contexts {
		if !now.Before(cs.Expires.Add(endedKept)) {
			delete(st.s.Contexts, id)
		}
	}
}

func (st *stats) snapshot() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.s
	out.Faults = maps.Clone(st.s.Faults)
	out.Contexts = maps.Clone(st.s.Contexts)
	out.LastFailures = slices.Clone(st.s.LastFailures)
	return out
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }
