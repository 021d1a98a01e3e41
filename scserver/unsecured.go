package scserver

import (
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// unsecured reports whether env carries no WS-Security header at all: the
// only messages Config.AllowUnsecured lets through unverified. A header
// that is present, even empty or malformed, is checked as usual.
func unsecured(env *soap.Envelope) bool {
	return env.Header == nil || len(xmldoc.Children(env.Header, wss.NameSecurity)) == 0
}
