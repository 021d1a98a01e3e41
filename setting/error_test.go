package setting

import (
	"errors"
	"fmt"
	"testing"
)

// TestDescribe: the message names the field, the value when there is
// one, and the setting that would allow it, each as the caller names
// them; Error uses the configuration's own names; errors.Is sees Err.
func TestDescribe(t *testing.T) {
	base := errors.New("not a loopback address")
	flags := func(f string) string {
		return map[string]string{"Listen": "--listen", "AllowRemote": "--allow-remote"}[f]
	}
	tests := []struct {
		err       *Error
		own, flag string
	}{
		{&Error{Field: "Listen", Value: "0.0.0.0:1", Err: base, Allow: "AllowRemote"},
			"Listen 0.0.0.0:1: not a loopback address (AllowRemote allows it)",
			"--listen 0.0.0.0:1: not a loopback address (--allow-remote allows it)"},
		{&Error{Field: "Listen", Err: base}, "Listen: not a loopback address", "--listen: not a loopback address"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.own {
			t.Errorf("Error() = %q, want %q", got, tt.own)
		}
		if got := tt.err.Describe(flags); got != tt.flag {
			t.Errorf("Describe = %q, want %q", got, tt.flag)
		}
		var se *Error
		if wrapped := fmt.Errorf("config: %w", tt.err); !errors.Is(wrapped, base) || !errors.As(wrapped, &se) || se != tt.err {
			t.Errorf("%v: not found through a wrap", tt.err)
		}
	}
}
