//go:build linux

package creds

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobodyUID is the uid the tests give files that belong to another
// user; the tests that need it run as root and are skipped otherwise.
const nobodyUID = 65534

// TestFileOwnedByAnotherUser: a 0600 file that another user owns is
// refused, since that user chooses the secret; the message names the
// owner and the fix, not the content.
func TestFileOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	const secret = "canary-Owner-P4ss"
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	_, err := File{}.Get(context.Background(), path)
	if err == nil {
		t.Fatal("a file owned by another user was accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "owned by uid 65534") || !strings.Contains(msg, "chown") || strings.Contains(msg, secret) {
		t.Fatalf("error %q: want the owner and the fix, never the secret", msg)
	}
	// The same file given back to this user is accepted.
	if err := os.Chown(path, os.Geteuid(), os.Getegid()); err != nil {
		t.Fatal(err)
	}
	if c, err := (File{}).Get(context.Background(), path); err != nil || c.Secret.Reveal() != secret {
		t.Fatalf("own file: %v", err)
	}
}

// TestFileFIFORefusedPromptly: a named pipe at the path is refused at
// once instead of blocking the start until someone writes to it (during
// which the process would not even see SIGTERM).
func TestFileFIFORefusedPromptly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := File{}.Get(context.Background(), path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v, want a refusal naming a non-regular file", err)
		}
	case <-time.After(10 * time.Second): // a bound for a hang, not a timing assertion
		// Unblock the reader so that the test binary can end.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("reading a FIFO blocked until a writer came")
	}
}
