package creds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// maxSecretFile bounds what a secret file may hold: a password or a key's
// passphrase is short, and a mistaken path to a large file should not be
// read into memory.
const maxSecretFile = 64 << 10

// File reads a secret from a regular file that this process's user owns
// and only its owner can read or write; the credential's name is the
// file's path. The whole file, less one
// trailing line ending, is the secret.
type File struct{}

// Describe names the file.
func (File) Describe(path string) string { return "file " + path }

// Get reads the file at path.
func (File) Get(_ context.Context, path string) (Credential, error) {
	s, err := readSecretFile(path, true)
	if err != nil {
		return Credential{}, err
	}
	return Credential{Secret: NewSecret(s)}, nil
}

// readSecretFile reads a secret file: a regular file (a FIFO or a device
// is refused before it is opened, and opening does not wait for one that
// takes the path's place meanwhile) that, when ownerOnly is set, this
// process's user owns and group and others may not access. The checks
// that count use the opened file, so the file checked is the file read.
// No error quotes the content.
func readSecretFile(path string, ownerOnly bool) (string, error) {
	if info, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("file %s: %w", path, unwrapPath(err))
	} else if !info.Mode().IsRegular() {
		return "", fmt.Errorf("file %s: not a regular file", path)
	}
	f, err := openSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("file %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("file %s: %w", path, unwrapPath(err))
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("file %s: not a regular file", path)
	}
	if ownerOnly {
		if err := checkOwner(path, info); err != nil {
			return "", err
		}
	}
	if mode := info.Mode().Perm(); ownerOnly && runtime.GOOS != "windows" && mode&0o077 != 0 {
		return "", fmt.Errorf("file %s: open to group or others (mode %04o); run chmod 600 %s", path, mode, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("file %s: cannot read it", path)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("file %s: larger than %d bytes, not a secret", path, maxSecretFile)
	}
	s := trimLineEnd(string(b))
	if s == "" {
		return "", fmt.Errorf("file %s: %w", path, ErrEmpty)
	}
	return s, nil
}

// unwrapPath drops the *PathError's own copy of the path, which the
// caller's message already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// envName is what a variable name looks like; a value that is not one
// may be the password itself, and is never repeated.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Env reads a secret from an environment variable; the credential's name
// is the variable's.
type Env struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Describe names the variable.
func (Env) Describe(name string) string { return "environment variable " + name }

// Get reads the variable called name.
func (e Env) Get(_ context.Context, name string) (Credential, error) {
	if !envName.MatchString(name) {
		return Credential{}, fmt.Errorf("want the name of an environment variable (letters, digits, _), not the secret itself")
	}
	getenv := e.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s := getenv(name)
	if s == "" {
		return Credential{}, &NotFoundError{Where: e.Describe(name), Hint: "it is not set or empty"}
	}
	return Credential{Secret: NewSecret(s)}, nil
}

// Systemd reads a credential that systemd passed to the service
// (LoadCredential=, LoadCredentialEncrypted=, SetCredential=): the file
// NAME in $CREDENTIALS_DIRECTORY. systemd makes that directory private to
// the service, so the file's own mode is not checked.
type Systemd struct {
	// Dir is $CREDENTIALS_DIRECTORY.
	Dir string
}

// Describe names the systemd credential.
func (Systemd) Describe(name string) string { return "systemd credential " + name }

// Get reads the credential called name.
func (s Systemd) Get(_ context.Context, name string) (Credential, error) {
	if s.Dir == "" {
		return Credential{}, &UnavailableError{
			Source: "systemd credentials",
			Reason: "CREDENTIALS_DIRECTORY is not set (not started by systemd with a credential)",
			Fix:    "add LoadCredential=" + name + ":/path/to/secret to the unit, or use another source",
		}
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return Credential{}, fmt.Errorf("systemd credential %q: not a credential name", name)
	}
	v, err := readSecretFile(filepath.Join(s.Dir, name), false)
	if errors.Is(err, fs.ErrNotExist) {
		return Credential{}, &NotFoundError{Where: s.Describe(name), Hint: "add LoadCredential=" + name + ":/path/to/secret to the unit"}
	}
	if err != nil {
		return Credential{}, fmt.Errorf("systemd credential %s: %w", name, err)
	}
	return Credential{Secret: NewSecret(v)}, nil
}
