package service

import (
	"context"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Launchd manages the service as a launchd job through launchctl: a
// LaunchDaemon for the system, a LaunchAgent for a user.
type Launchd struct{ Env Env }

// labelPrefix starts the job's label (reverse DNS, launchd.plist(5)).
const labelPrefix = "com.github.scproxy."

// Label is the job's label for s.
func (Launchd) Label(s Spec) string { return labelPrefix + s.Name }

// Plist is the job's property list for s. launchd has no readiness or
// watchdog protocol: it keeps the agent running (KeepAlive unless it
// exited cleanly) and gives it ExitTimeOut to stop after SIGTERM.
func (m Launchd) Plist(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	logs, err := m.logDir(s.Scope)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by scproxy service install; scproxy service uninstall removes it. -->
<plist version="1.0">
<dict>
`)
	key := func(k string) { b.WriteString("\t<key>" + k + "</key>\n") }
	str := func(indent, v string) {
		b.WriteString(indent + "<string>")
		_ = xml.EscapeText(&b, []byte(v))
		b.WriteString("</string>\n")
	}
	key("Label")
	str("\t", m.Label(s))
	key("ProgramArguments")
	b.WriteString("\t<array>\n")
	for _, a := range append([]string{s.Executable}, s.Args...) {
		str("\t\t", a)
	}
	b.WriteString("\t</array>\n")
	key("RunAtLoad")
	b.WriteString("\t<true/>\n")
	key("KeepAlive")
	b.WriteString("\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n")
	key("ExitTimeOut")
	b.WriteString("\t<integer>" + strconv.Itoa(int(s.stopTimeout().Seconds())) + "</integer>\n")
	key("ProcessType")
	str("\t", "Background")
	key("Umask")
	b.WriteString("\t<integer>63</integer>\n") // 0077
	key("StandardErrorPath")
	str("\t", filepath.Join(logs, s.Name+".log"))
	b.WriteString("</dict>\n</plist>\n")
	return b.String(), nil
}

// logDir is where the agent's stderr goes.
func (m Launchd) logDir(scope Scope) (string, error) {
	if scope == User {
		h, err := m.Env.home()
		return filepath.Join(h, "Library/Logs"), err
	}
	return "/Library/Logs", nil
}

// plistPath is where the job's property list goes.
func (m Launchd) plistPath(s Spec) (string, error) {
	name := m.Label(s) + ".plist"
	if s.Scope == User {
		h, err := m.Env.home()
		if err != nil {
			return "", err
		}
		return m.Env.path(filepath.Join(h, "Library/LaunchAgents", name)), nil
	}
	return m.Env.path(filepath.Join("/Library/LaunchDaemons", name)), nil
}

// domain is launchctl's domain target: system, or the user's GUI session.
func (m Launchd) domain(s Spec) string {
	if s.Scope == User {
		return "gui/" + strconv.Itoa(m.Env.UID)
	}
	return "system"
}

// target is the job's service target in its domain.
func (m Launchd) target(s Spec) string { return m.domain(s) + "/" + m.Label(s) }

// Definition is the property list and its path.
func (m Launchd) Definition(s Spec) (string, string, error) {
	text, err := m.Plist(s)
	if err != nil {
		return "", "", err
	}
	path, err := m.plistPath(s)
	return path, text, err
}

// Install writes the property list and bootstraps the job, which starts
// it (RunAtLoad).
func (m Launchd) Install(ctx context.Context, s Spec) error {
	path, text, err := m.Definition(s)
	if err != nil {
		return err
	}
	if err := writeFile(path, text); err != nil {
		return fmt.Errorf("writing the property list: %w", err)
	}
	_, err = m.Env.run(ctx, "launchctl", "bootstrap", m.domain(s), path)
	return err
}

// Uninstall boots the job out (stopping it) and removes its property list.
func (m Launchd) Uninstall(ctx context.Context, s Spec) error {
	path, err := m.plistPath(s)
	if err != nil {
		return err
	}
	if _, err := m.Env.run(ctx, "launchctl", "bootout", m.target(s)); err != nil {
		return err
	}
	return removeFile(path)
}

// Start starts the job (again, if it runs: -k).
func (m Launchd) Start(ctx context.Context, s Spec) error {
	_, err := m.Env.run(ctx, "launchctl", "kickstart", "-k", m.target(s))
	return err
}

// Stop sends the agent SIGTERM; it exits cleanly, which KeepAlive does not
// restart.
func (m Launchd) Stop(ctx context.Context, s Spec) error {
	_, err := m.Env.run(ctx, "launchctl", "kill", "SIGTERM", m.target(s))
	return err
}

// Status is launchctl print.
func (m Launchd) Status(ctx context.Context, s Spec) (string, error) {
	return m.Env.run(ctx, "launchctl", "print", m.target(s))
}

// ManDir is /usr/local/share/man/man1 for the system; a user has none
// that man(1) searches by default.
func (m Launchd) ManDir(scope Scope) string {
	if scope == User {
		return ""
	}
	return m.Env.path("/usr/local/share/man/man1")
}

// ConfigPath is /usr/local/etc/scproxy/config.yaml, or the user's
// ~/Library/Application Support/scproxy/config.yaml.
func (m Launchd) ConfigPath(scope Scope) string {
	if scope == User {
		if h, err := m.Env.home(); err == nil {
			return filepath.Join(h, "Library/Application Support/scproxy/config.yaml")
		}
	}
	return "/usr/local/etc/scproxy/config.yaml"
}
