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

// store holds the contexts by Identifier. Cancelled contexts stay as
// tombstones until ForgetAll, so that a cookie cannot bring them back.
type store struct {
	mu sync.Mutex
	m  map[string]*session
}

func newStore() *store { return &store{m: map[string]*session{}} }

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

// restore adds s unless the store already knows its Identifier (a
// cancelled context included); it reports whether it did.
func (st *store) restore(s *session) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.m[s.Identifier]; ok {
		return false
	}
	st.m[s.Identifier] = s.clone()
	return true
}

// get returns a copy of the usable context id at now, or a *ContextError.
func (st *store) get(id string, now time.Time) (*session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	switch {
	case !ok:
		return nil, &ContextError{Identifier: id, Reason: "is not known to this server (never issued, or forgotten)"}
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
	s, ok := st.m[id]
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

// ContextSpec describes a context to install without an Issue exchange,
// such as one taken from a capture with its key.
type ContextSpec struct {
	Identifier string
	Version    wssc.Version
	Key        []byte
	// Instance is the current key instance, "" for none.
	Instance string
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
	return s.store.add(&session{
		Identifier: spec.Identifier, Version: spec.Version, Key: slices.Clone(spec.Key), Instance: spec.Instance,
		Created: created, Expires: expires, KeyCreated: created,
	})
}
