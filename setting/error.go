package setting

import "fmt"

// Error reports a setting that cannot work.
type Error struct {
	// Field is the setting as its configuration spells it: "Listen",
	// "Routes[1].Upstream", "KerberosConfig.SPN".
	Field string
	// Value is the value given, redacted of secrets; empty when Err
	// shows it or must not.
	Value string
	// Err says what is wrong. It names no setting.
	Err error
	// Allow names the setting that would accept the value ("AllowRemote"),
	// when one would.
	Allow string
}

// Errorf returns an *Error for field and value with the message format
// makes.
func Errorf(field, value, format string, args ...any) error {
	return &Error{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// Error is the message with the settings named as their configuration
// names them.
func (e *Error) Error() string { return e.Describe(func(field string) string { return field }) }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Describe is the message of e with its settings called as name calls
// them.
func (e *Error) Describe(name func(field string) string) string {
	s := name(e.Field)
	if e.Value != "" {
		s += " " + e.Value
	}
	s += ": " + e.Err.Error()
	if e.Allow != "" {
		s += " (" + name(e.Allow) + " allows it)"
	}
	return s
}
