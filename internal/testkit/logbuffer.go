package testkit

import (
	"bytes"
	"sync"
)

// LogBuffer is a bytes.Buffer safe for concurrent writers, such as the
// handlers of a slog.Logger shared by a server's and a client's
// goroutines, and a test reading what was written. The zero value is
// ready to use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
