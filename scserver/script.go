package scserver

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Script makes the server misbehave the way real services do, for tests
// and demos. The zero Script is a well-behaved server.
type Script struct {
	// RenewAfterMessages answers wsc:RenewNeeded to every application
	// message once a context's current key has verified this many; zero
	// never does. A renewal starts the count again.
	RenewAfterMessages int
	// RenewAfterKeyAge answers wsc:RenewNeeded once a context's current key
	// is this old, as WCF does when a key expires before its token; zero
	// never does.
	RenewAfterKeyAge time.Duration
	// Delay holds every response back this long.
	Delay time.Duration
}

func (s Script) check() error {
	if s.RenewAfterMessages < 0 || s.RenewAfterKeyAge < 0 || s.Delay < 0 {
		return errors.New("scserver: negative value in Script")
	}
	return nil
}

// renewNeeded reports why a context whose current key has verified
// messages messages and was made at keyCreated must be renewed at now, or
// "" when it need not.
func (s Script) renewNeeded(messages int, keyCreated, now time.Time) string {
	switch {
	case s.RenewAfterMessages > 0 && messages >= s.RenewAfterMessages:
		return fmt.Sprintf("the key has protected %d messages, the limit is %d: renew it", messages, s.RenewAfterMessages)
	case s.RenewAfterKeyAge > 0 && now.Sub(keyCreated) >= s.RenewAfterKeyAge:
		return fmt.Sprintf("the key is %s old, the limit is %s: renew it", now.Sub(keyCreated), s.RenewAfterKeyAge)
	}
	return ""
}

// script holds the Script in force and the pending scripted failures.
type script struct {
	mu       sync.Mutex
	s        Script
	failLeft int
	failCode int
}

func (sc *script) get() Script {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.s
}

func (sc *script) set(s Script) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.s = s
}

func (sc *script) failNext(k, status int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.failLeft, sc.failCode = k, status
}

// takeFailure consumes one scripted failure, if any is pending.
func (sc *script) takeFailure() (int, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.failLeft <= 0 {
		return 0, false
	}
	sc.failLeft--
	return sc.failCode, true
}

// SetScript replaces the fault script; it applies from the next request.
func (s *Server) SetScript(sc Script) error {
	if err := sc.check(); err != nil {
		return err
	}
	s.script.set(sc)
	return nil
}

// FailNext makes the next k requests fail with HTTP status and a plain
// text body, before any SOAP processing, as a load balancer or a stopped
// application pool answers. k of zero cancels pending failures.
func (s *Server) FailNext(k, status int) error {
	if k < 0 || status < 100 || status > 999 {
		return fmt.Errorf("scserver: cannot fail %d requests with status %d", k, status)
	}
	s.script.failNext(k, status)
	return nil
}

// ForgetAll drops every security context, cancelled ones included, as an
// IIS application pool recycle drops a WCF service's sessions: later
// messages on them get wsc:BadContextToken, unless the token carries a
// cookie (Config.Cookie) from which the context, while unexpired, is
// restored. Stats keep the dropped contexts' counters. It returns how
// many contexts were dropped.
func (s *Server) ForgetAll() int {
	return s.store.forgetAll()
}

// delay waits the scripted delay, or until the request is abandoned.
func delay(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
