package scserver

import (
	"maps"
	"slices"
	"sync"
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
	// Contexts are the per-context counters, keyed by Identifier.
	Contexts map[string]ContextStats
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
}

// stats is the concurrency-safe counter set behind Stats.
type stats struct {
	mu sync.Mutex
	s  Stats
}

func newStats() *stats {
	return &stats{s: Stats{Faults: map[string]int{}, Contexts: map[string]ContextStats{}}}
}

// update applies fn to the counters, and to the context's when id is set.
func (st *stats) update(id string, fn func(*Stats, *ContextStats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var cs ContextStats
	if id != "" {
		cs = st.s.Contexts[id]
	}
	fn(&st.s, &cs)
	if id != "" {
		st.s.Contexts[id] = cs
	}
}

func (st *stats) request() { st.update("", func(s *Stats, _ *ContextStats) { s.Requests++ }) }

// reject records a fault; id is the context concerned, "" if none.
func (st *stats) reject(id, code, reason string) {
	st.update(id, func(s *Stats, cs *ContextStats) {
		s.Rejected++
		s.Faults[code]++
		s.LastFailures = append(s.LastFailures, reason)
		if n := len(s.LastFailures); n > maxFailures {
			s.LastFailures = slices.Clone(s.LastFailures[n-maxFailures:])
		}
		cs.Rejected++
		cs.LastFailure = reason
	})
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
