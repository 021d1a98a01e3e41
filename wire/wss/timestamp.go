package wss

import (
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Defaults shared by WCF, WWSAPI and WSS4J: a Timestamp is valid for five
// minutes and clocks may disagree by five minutes.
const (
	DefaultTTL  = 5 * time.Minute
	DefaultSkew = 5 * time.Minute
)

// TimeLayout is how scproxy writes xsd:dateTime values: UTC with exactly
// three fractional digits, as WCF does (2024-02-14T02:07:04.784Z). Some
// servers compare Created strings, so the format is fixed, not just valid.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in TimeLayout, in UTC, truncated to milliseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeLayout)
}

// ParseTime reads an xsd:dateTime as WS-Security uses it. A time zone is
// required: SOAP Message Security 1.1 §10 asks for UTC, and a zone-less value
// would be interpreted in whatever zone the reader happens to run in.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid xsd:dateTime %q (a time zone is required)", s)
	}
	return t.UTC(), nil
}

// Timestamp is a wsu:Timestamp (SOAP Message Security 1.1 §10). Expires is
// the zero time when the element has none.
type Timestamp struct {
	ID      string
	Created time.Time
	Expires time.Time
}

// NewTimestamp returns a Timestamp created at now and expiring ttl later;
// a ttl of zero or less means DefaultTTL.
func NewTimestamp(id string, now time.Time, ttl time.Duration) Timestamp {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	now = now.UTC().Truncate(time.Millisecond)
	return Timestamp{ID: id, Created: now, Expires: now.Add(ttl)}
}

// Element returns the wsu:Timestamp element, declaring wsu on itself.
func (t Timestamp) Element() *etree.Element {
	el := newElement(PrefixWSU, NSWSU, "Timestamp")
	if t.ID != "" {
		el.CreateAttr(PrefixWSU+":Id", t.ID)
	}
	child(el, PrefixWSU, "Created", FormatTime(t.Created))
	if !t.Expires.IsZero() {
		child(el, PrefixWSU, "Expires", FormatTime(t.Expires))
	}
	return el
}

// ParseTimestamp reads a wsu:Timestamp: exactly one Created, at most one
// Expires, and Expires not before Created (else the error wraps
// ErrRange). It does not judge freshness: see CheckFresh.
func ParseTimestamp(el *etree.Element) (Timestamp, error) {
	var t Timestamp
	if !xmldoc.Is(el, NameTimestamp) {
		return t, fmt.Errorf("wss: expected %s, got %s", NameTimestamp, xmldoc.NameOf(el))
	}
	t.ID, _ = ID(el)
	c, err := xmldoc.One(el, NameCreated)
	if err != nil {
		return t, fmt.Errorf("wss: timestamp: %w", err)
	}
	if t.Created, err = ParseTime(xmldoc.Text(c)); err != nil {
		return t, fmt.Errorf("wss: timestamp Created: %w", err)
	}
	e, err := xmldoc.Optional(el, NameExpires)
	if err != nil {
		return t, fmt.Errorf("wss: timestamp: %w", err)
	}
	if e == nil {
		return t, nil
	}
	if t.Expires, err = ParseTime(xmldoc.Text(e)); err != nil {
		return t, fmt.Errorf("wss: timestamp Expires: %w", err)
	}
	if t.Expires.Before(t.Created) {
		return t, fmt.Errorf("wss: timestamp %w: Expires %s, Created %s", ErrRange, FormatTime(t.Expires), FormatTime(t.Created))
	}
	return t, nil
}

// Errors Validate and CheckFresh wrap, so callers can tell a stale or
// expired message from a peer whose clock runs ahead, and both from a
// Timestamp that contradicts itself.
var (
	ErrExpired = errors.New("expired")
	ErrFuture  = errors.New("created in the future")
	// ErrStale: Created is older than the maximum age plus the skew,
	// whatever Expires says.
	ErrStale = errors.New("stale")
	// ErrRange: Expires is not after Created.
	ErrRange = errors.New("expires before it is created")
)

// Validate checks that t is fresh at now, allowing clocks to differ by skew
// in either direction; a skew of zero or less means DefaultSkew. The error
// wraps ErrExpired or ErrFuture and states the times involved.
//
// Validate does not bound the age of Created: a Timestamp without Expires,
// or with a distant one, passes however old it is. A receiver guarding
// against replay uses CheckFresh.
func (t Timestamp) Validate(now time.Time, skew time.Duration) error {
	if skew <= 0 {
		skew = DefaultSkew
	}
	if err := t.checkFuture(now, skew); err != nil {
		return err
	}
	return t.checkExpires(now, skew)
}

// Freshness is how a receiver judges a Timestamp's age.
type Freshness struct {
	// MaxAge is how old Created may be (WCF's TimestampValidityDuration);
	// zero or less means DefaultTTL.
	MaxAge time.Duration
	// Skew is the clock difference tolerated in either direction (WCF's
	// MaxClockSkew); zero or less means DefaultSkew.
	Skew time.Duration
}

// CheckFresh checks t at now as WCF's receivers do, in their order:
//
//   - Expires, when present, must be after Created (ErrRange);
//   - Expires must not be more than Skew in the past (ErrExpired);
//   - Created must not be more than Skew in the future (ErrFuture);
//   - Created must not be older than MaxAge plus Skew (ErrStale).
//
// The age of Created alone bounds how long a captured message can be
// replayed, so a missing Expires (which WCF reads as "never") and an
// Expires far in the future are accepted, as WCF and CoreWCF accept
// them: refusing them would turn away peers that set a long Expires
// without closing any replay window. The boundary instants themselves
// are accepted; a millisecond beyond them is refused.
func (t Timestamp) CheckFresh(now time.Time, f Freshness) error {
	if f.MaxAge <= 0 {
		f.MaxAge = DefaultTTL
	}
	if f.Skew <= 0 {
		f.Skew = DefaultSkew
	}
	if !t.Expires.IsZero() && !t.Expires.After(t.Created) {
		return fmt.Errorf("wss: timestamp %w: Expires %s is not after Created %s", ErrRange, FormatTime(t.Expires), FormatTime(t.Created))
	}
	if err := t.checkExpires(now, f.Skew); err != nil {
		return err
	}
	if err := t.checkFuture(now, f.Skew); err != nil {
		return err
	}
	if oldest := now.Add(-(f.MaxAge + f.Skew)); t.Created.Before(oldest) {
		return fmt.Errorf("wss: timestamp %w: Created %s is older than now %s minus maximum age %s and skew %s", ErrStale, FormatTime(t.Created), FormatTime(now), f.MaxAge, f.Skew)
	}
	return nil
}

// checkFuture refuses a Created more than skew after now.
func (t Timestamp) checkFuture(now time.Time, skew time.Duration) error {
	if t.Created.After(now.Add(skew)) {
		return fmt.Errorf("wss: timestamp %w: Created %s is after now %s plus skew %s", ErrFuture, FormatTime(t.Created), FormatTime(now), skew)
	}
	return nil
}

// checkExpires refuses an Expires more than skew before now.
func (t Timestamp) checkExpires(now time.Time, skew time.Duration) error {
	if !t.Expires.IsZero() && now.After(t.Expires.Add(skew)) {
		return fmt.Errorf("wss: timestamp %w: Expires %s is before now %s minus skew %s", ErrExpired, FormatTime(t.Expires), FormatTime(now), skew)
	}
	return nil
}
