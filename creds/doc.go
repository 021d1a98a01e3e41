// Package creds supplies the secrets scproxy authenticates with: a
// password, a key's passphrase, a proof key. The rest of the product
// consumes the Source interface; the sources are the OS keyring (Secret
// Service on Linux, Keychain on macOS, Credential Manager on Windows,
// through go-keyring), an owner-only file, an environment variable and a
// systemd credential. The user chooses the source; nothing falls back to
// another source, let alone to plaintext, on its own.
//
// A Secret never prints: its String, GoString, LogValue and JSON forms
// are "[redacted]", so a secret that reaches a log line, an error or a
// status document by mistake still does not show.
package creds
