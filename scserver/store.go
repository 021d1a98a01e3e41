package scserver

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
)

// session is one security context as the server keeps it.
type session struct {
	Identifier string
	Version    wssc.Version
	Key        []byte
	Instance   string    // current key instance (1.3 after a renewal)
	Created    time.Time // when the context was issued
	Expires    time.Time // end of the context's lifetime
	KeyCreated time.Time // when the current key was made
	// PrevKey is the key the last renewal replaced, valid until PrevUntil.
	PrevKey   []byte
	PrevUntil time.Time
	Cancelled bool
	// Principal is who the context was issued to ("user:alice"); a Renew
	// must authenticate as the same.
	Principal string
	// Messages counts application messages verified with the current key.
	Messages int
}

// clone copies s so that callers can read it without the store's lock.
func (s *session) clone() *session {
	c := *s
	c.Key = slices.Clone(s.Key)
	c.PrevKey = slices.Clone(s.PrevKey)
	return &c
}

// ContextError is why a message's context is not usable: the server never
// issued it or forgot it, it expired, or it was cancelled. The server
// answers it with wsc:BadContextToken.
type ContextError struct {
	Identifier string
	Reason     string
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("security context %q %s", e.Identifier, e.Reason)
}

// How the store forgets ended contexts. A context that expired, cancelled
// or not, is kept endedKept past its expiry, so that faults about it keep
// saying why it ended ("expired at", "was cancelled"); after that it is
// dropped and a message naming it gets BadContextToken as an unknown
// context, the same fault. No cookie can bring a dropped context back to
// life: every cookie of a context carries an expiry no later than the
// context's own, and an expired cookie is not restored. The server looks
// for ended contexts on requests and AddContext, at most every
// sweepEvery, so a sweep costs O(contexts) once a minute, not per
// request; between sweeps a lookup drops an ended context it meets.
const (
	endedKept  = 10 * time.Minute
	sweepEvery = time.Minute
)

// store holds the contexts by Identifier. Cancelled contexts stay as
// tombstones until they would have expired (plus endedKept), so that a
// cookie cannot bring them back meanwhile.
type store struct {
	mu        sync.Mutex
	m         map[string]*session
	nextSweep time.Time
}

func newStore() *store { return &store{m: map[string]*session{}} }

// ended reports whether s may be dropped at now.
func (s *session) ended(now time.Time) bool {
	return !now.Before(s.Expires.Add(endedKept))
}

// sweep drops the ended contexts when a sweep is due at now (at most
// every sweepEvery), and reports whether it looked.
func (st *store) sweep(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	// A clock set back by more than the interval sweeps at once rather
	// than waiting for the old schedule.
	if now.Before(st.nextSweep) && !now.Before(st.nextSweep.Add(-sweepEvery)) {
		return false
	}
	st.nextSweep = now.Add(sweepEvery)
	for id, s := range st.m {
		if s.ended(now) {
			delete(st.m, id)
		}
	}
	return true
}

// len is how many contexts, tombstones included, the store holds.
func (st *store) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}

// add stores s, refusing an Identifier already in use.
func (st *store) add(s *session) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.m[s.Identifier]; ok {
		return fmt.Errorf("scserver: context %q already exists", s.Identifier)
	}
	st.m[s.Identifier] = s.clone()
	return nil
}

// restore adds s, a context read from a cookie, unless the store already
// knows its Identifier (a cancelled context included) or s has expired at
// now; it reports whether it did.
func (st *store) restore(s *session, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.m[s.Identifier]; ok || !now.Before(s.Expires) {
		return false
	}
	st.m[s.Identifier] = s.clone()
	return true
}

// lookupLocked returns the context id, dropping it when it has ended at
// now (lazily, between sweeps). The caller holds mu.
func (st *store) lookupLocked(id string, now time.Time) (*session, bool) {
	s, ok := st.m[id]
	if ok && s.ended(now) {
		delete(st.m, id)
		return nil, false
	}
	return s, ok
}

// get returns a copy of the usable context id at now, or a *ContextError.
func (st *store) get(id string, now time.Time) (*session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.lookupLocked(id, now)
	switch {
	case !ok:
		return nil, &ContextError{Identifier: id, Reason: "is not known to this server (never issued, forgotten, or ended long ago)"}
	case s.Cancelled:
		return nil, &ContextError{Identifier: id, Reason: "was cancelled"}
	case !now.Before(s.Expires):
		return nil, &ContextError{Identifier: id, Reason: "expired at " + wss.FormatTime(s.Expires)}
	}
	return s.clone(), nil
}

// update applies fn to the usable context id; fn's error is returned.
func (st *store) update(id string, now time.Time, fn func(*session) error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.lookupLocked(id, now)
	if !ok || s.Cancelled || !now.Before(s.Expires) {
		return &ContextError{Identifier: id, Reason: "is no longer usable"}
	}
	return fn(s)
}

func (st *store) forgetAll() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := len(st.m)
	clear(st.m)
	return n
}

// sweep drops the contexts, and their counters, that ended long enough
// before now; at most once per sweepEvery, whoever calls.
func (s *Server) sweep(now time.Time) {
	if s.store.sweep(now) {
		s.stats.sweep(now)
	}
}

// ContextSpec describes a context to install without an Issue exchange,
// such as one taken from a capture with its key.
type ContextSpec struct {
	Identifier string
	Version    wssc.Version
	Key        []byte
	// Instance is the current key instance, "" for none.
	Instance string
	// Principal is who the context counts as issued to, as the log names
	// it ("user:alice", "x509:CN=client"); only a Renew authenticated as
	// that principal renews it. Empty: no Renew does.
	Principal string
	// Created defaults to the server's now; Expires to Created plus the
	// configured Lifetime.
	Created, Expires time.Time
}

// AddContext installs a context, so that messages signed with its key are
// accepted (and can be renewed and cancelled) as if it had been issued.
func (s *Server) AddContext(spec ContextSpec) error {
	if spec.Identifier == "" || len(spec.Key) == 0 {
		return fmt.Errorf("scserver: a context needs an Identifier and a key")
	}
	if !slices.Contains(s.cfg.Versions, spec.Version) {
		return fmt.Errorf("scserver: context version %q is not accepted by this server", spec.Version)
	}
	created := spec.Created
	if created.IsZero() {
		created = s.cfg.Now()
	}
	expires := spec.Expires
	if expires.IsZero() {
		expires = created.Add(s.cfg.Lifetime)
	}
	s.sweep(s.cfg.Now())
	if err := s.store.add(&session{
		Identifier: spec.Identifier, Version: spec.Version, Key: slices.Clone(spec.Key), Instance: spec.Instance,
		Principal: spec.Principal, Created: created, Expires: expires, KeyCreated: created,
	}); err != nil {
		return err
	}
	s.stats.track(spec.Identifier, expires)
	return nil
}
