// Package credcache holds one shared credential that expires (a security
// context, an issued SAML token, a Kerberos service ticket) for every
// request that needs it.
//
// A Cache keeps an immutable snapshot behind an atomic pointer: the value,
// when it stops being usable, when it should be refreshed, and the run of
// failed fetches since the last success. Reading a usable value takes no
// lock. When there is none, one fetch is made and shared by every caller
// that asks meanwhile; it runs on a goroutine of its own, under the
// values of the context of the caller that started it but not its
// cancellation, bounded by the cache's timeout, so a caller that gives up
// stops waiting without cancelling it for the others.
//
// Three times matter for a value that expires at until:
//
//   - the advisory refresh time (Config.RefreshAt): from then on, the first
//     caller starts a fetch in the background and is handed the current
//     value; a failed refresh keeps it;
//   - the mandatory margin (Config.Margin): a value within the margin of its
//     expiry is never handed out, since a message it secures would arrive
//     expired at a server whose clock is that far ahead. The default is
//     the clock skew WCF services allow, 5 minutes, clamped to a quarter
//     of the value's lifetime (MaxMarginFraction), so that a value is
//     usable for at least three quarters of its life: a 2-minute context
//     keeps a 30-second margin;
//   - the expiry itself.
//
// After a failed fetch, callers without a usable value fail at once with
// a *HeldError carrying the last error until the retry time the backoff
// gives (Config.Backoff, told the error), and while that retry is under
// way, instead of queueing behind an issuer that does not answer, or
// repeating a login it refused: whether a stale value is held or none
// ever was. Invalidate drops a value the server rejected by
// compare-and-swap, so that many requests failing with the same value
// cause one refresh.
//
// The shape is that of the credential caches of the cloud SDKs and of a
// reusing OAuth 2 token source.
package credcache
