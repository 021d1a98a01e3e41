package service

import (
	"errors"
	"strings"
)

// scmName is the display name of the Windows service.
const scmName = "scproxy (WS-SecureConversation proxy)"

// scmDefinition describes the Windows service of s: the Service Control
// Manager keeps it in its own database, not in a file. A Windows service
// belongs to the host; a per-user one is not offered.
func scmDefinition(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	if s.Scope == User {
		return "", errors.New("a Windows service belongs to the host: install it without --user, from an elevated prompt")
	}
	var b strings.Builder
	b.WriteString("Service:      " + s.Name + "\n")
	b.WriteString("Display name: " + scmName + "\n")
	b.WriteString("Description:  " + Description + "\n")
	b.WriteString("Start type:   automatic (delayed), restarted 5s after a failure\n")
	b.WriteString("Command line: " + windowsCommandLine(append([]string{s.Executable}, s.Args...)) + "\n")
	if len(s.Credentials) > 0 {
		b.WriteString("Credentials:  ignored (systemd only); use the Windows Credential Manager entry (--credential)\n")
	}
	return b.String(), nil
}

// windowsCommandLine joins args as the Windows C runtime splits them
// (the rule of syscall.EscapeArg): quotes around an argument with a space
// or tab, and backslashes doubled before a quote.
func windowsCommandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = windowsQuote(a)
	}
	return strings.Join(out, " ")
}

func windowsQuote(s string) string {
	if s == "" {
		return `""`
	}
	if !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for _, c := range s {
		switch c {
		case '\\':
			slashes++
			continue
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
		}
		slashes = 0
		b.WriteRune(c)
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}
