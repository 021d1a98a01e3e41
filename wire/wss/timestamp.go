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
// Expires, and Expires not before Created.
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
		return t, fmt.Errorf("wss: timestamp expires (%s) before it is created (%s)", FormatTime(t.Expires), FormatTime(t.Created))
	}
	return t, nil
}

// Errors Validate wraps, so callers can tell a stale message from a peer
// whose clock runs ahead.
var (
	ErrExpired = errors.New("expired")
	ErrFuture  = errors.New("created in the future")
)

// Validate checks that t is fresh at now, allowing clocks to differ by skew
// in either direction; a skew of zero or less means DefaultSkew. The error
// wraps ErrExpired or ErrFuture and states the times involved.
func (t Timestamp) Validate(now time.Time, skew time.Duration) error {
	if skew <= 0 {
		skew = DefaultSkew
	}
	if t.Created.After(now.Add(skew)) {
		return fmt.Errorf("wss: timestamp %w: Created %s is after now %s plus skew %s", ErrFuture, FormatTime(t.Created), FormatTime(now), skew)
	}
	if !t.Expires.IsZero() && now.After(t.Expires.Add(skew)) {
		return fmt.Errorf("wss: timestamp %w: Expires %s is before now %s minus skew %s", ErrExpired, FormatTime(t.Expires), FormatTime(now), skew)
	}
	return nil
}
