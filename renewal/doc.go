// Package renewal decides when a security context is renewed:
// proactively, at the earlier of 60% of the context's
// lifetime and a fixed interval (10 hours, as WCF and WWSAPI clients),
// brought forward by a random part of that delay (never of the lifetime,
// which for long lifetimes would exceed the delay) so that a fleet started
// together does not renew together; after a failure, at a random instant
// of a growing backoff window, never past the context's expiry, and
// AuthFailureWindows windows later after a refused credential.
//
// It is policy only: the times, never a timer. The loop that acts on them
// is the keeper of each endpoint in package session; randomness is
// injected.
package renewal
