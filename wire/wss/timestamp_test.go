package wss

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCheckFresh judges Timestamps against a receiver's maximum age and
// skew: every rule of CheckFresh, each boundary instant (accepted) and a
// millisecond past it (refused), with default and explicit settings.
func TestCheckFresh(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	ts := func(created, expires time.Duration) Timestamp {
		return Timestamp{Created: at.Add(created), Expires: at.Add(expires)}
	}
	noExpires := func(created time.Duration) Timestamp { return Timestamp{Created: at.Add(created)} }
	def := Freshness{} // 5 minutes and 5 minutes
	tight := Freshness{MaxAge: time.Minute, Skew: 10 * time.Second}
	tests := []struct {
		name string
		ts   Timestamp
		f    Freshness
		want error
	}{
		{"fresh", ts(-time.Second, 5*time.Minute), def, nil},
		{"fresh, no Expires", noExpires(-time.Minute), def, nil},
		{"stale Created, Expires still ahead", ts(-11*time.Minute, time.Hour), def, ErrStale},
		{"stale Created, no Expires", noExpires(-24 * time.Hour), def, ErrStale},
		{"stale Created a year ago, Expires a year away", ts(-365*24*time.Hour, 365*24*time.Hour), def, ErrStale},
		{"far-future Expires on a fresh Created", ts(-time.Second, 365*24*time.Hour), def, nil},
		{"Expires before Created", ts(0, -time.Second), def, ErrRange},
		{"Expires equal to Created", ts(-time.Second, -time.Second), def, ErrRange},
		{"expired beyond skew", ts(-9*time.Minute, -5*time.Minute-ms), def, ErrExpired},
		{"expired exactly at skew", ts(-9*time.Minute, -5*time.Minute), def, nil},
		{"Created exactly max age plus skew ago", noExpires(-10 * time.Minute), def, nil},
		{"Created a millisecond older", noExpires(-10*time.Minute - ms), def, ErrStale},
		{"Created exactly skew ahead", noExpires(5 * time.Minute), def, nil},
		{"Created a millisecond further ahead", noExpires(5*time.Minute + ms), def, ErrFuture},
		{"tight: Created exactly 70s ago", ts(-70*time.Second, time.Minute), tight, nil},
		{"tight: Created 70s and a millisecond ago", ts(-70*time.Second-ms, time.Minute), tight, ErrStale},
		{"tight: Created 10s ahead", noExpires(10 * time.Second), tight, nil},
		{"tight: Created 11s ahead", noExpires(11 * time.Second), tight, ErrFuture},
		{"tight: Expires 10s past", ts(-30*time.Second, -10*time.Second), tight, nil},
		{"tight: Expires 11s past", ts(-30*time.Second, -11*time.Second), tight, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ts.CheckFresh(at, tc.f)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// The error names the time that broke the rule.
			named := FormatTime(tc.ts.Created)
			if errors.Is(err, ErrExpired) {
				named = FormatTime(tc.ts.Expires)
			}
			if err != nil && !strings.Contains(err.Error(), named) {
				t.Errorf("error %q does not state %s", err, named)
			}
		})
	}
}

// TestCheckFreshOrder: a Timestamp wrong in several ways is named by the
// first rule it breaks (range, then expiry, as WCF checks), so an expired
// message is reported as expired, not merely stale.
func TestCheckFreshOrder(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	expiredAndStale := Timestamp{Created: at.Add(-time.Hour), Expires: at.Add(-55 * time.Minute)}
	if err := expiredAndStale.CheckFresh(at, Freshness{}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired and stale: %v, want ErrExpired", err)
	}
	inverted := Timestamp{Created: at.Add(time.Hour), Expires: at.Add(-time.Hour)}
	if err := inverted.CheckFresh(at, Freshness{}); !errors.Is(err, ErrRange) {
		t.Errorf("inverted and in the future: %v, want ErrRange", err)
	}
}

// TestValidateUnbounded: Validate keeps its lenient contract (no age
// limit), which CheckFresh tightens; the same stale Timestamp shows the
// difference.
func TestValidateUnbounded(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	stale := Timestamp{Created: at.Add(-24 * time.Hour)}
	if err := stale.Validate(at, 0); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := stale.CheckFresh(at, Freshness{}); !errors.Is(err, ErrStale) {
		t.Errorf("CheckFresh: %v, want ErrStale", err)
	}
}

// TestParseTimestampRange: an Expires before Created is refused at parse
// time with the same sentinel CheckFresh uses.
func TestParseTimestampRange(t *testing.T) {
	el := Timestamp{Created: now, Expires: now.Add(-time.Second)}.Element()
	if _, err := ParseTimestamp(el); !errors.Is(err, ErrRange) {
		t.Errorf("ParseTimestamp: %v, want ErrRange", err)
	}
}
