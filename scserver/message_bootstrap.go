package scserver

import (
	"fmt"
	"strings"
)

// MessageBootstrap is how an Issue request is protected in the
// message-security profile, where there is no TLS to lean on: the WCF
// authentication modes of a wsHttpBinding in Message mode (WS-SecurityPolicy
// 1.2 §7.3 symmetric binding with an X509Token protection token, §7.5
// asymmetric binding for mutual10).
type MessageBootstrap int

const (
	// BootstrapAnonymous is WCF's AnonymousForCertificate: the client is
	// not authenticated; the RST is signed and encrypted under a key it
	// encrypted for the service certificate (an EncryptedKey).
	BootstrapAnonymous MessageBootstrap = iota + 1
	// BootstrapUsername is WCF's UserNameForCertificate: as anonymous,
	// plus an encrypted, signed UsernameToken of a configured user.
	BootstrapUsername
	// BootstrapMutual is WCF's MutualCertificate (WS-Security 1.1): as
	// anonymous, plus an X.509 token endorsing the signature, its
	// certificate chaining to the trusted CAs.
	BootstrapMutual
	// BootstrapMutual10 is WCF's MutualCertificate10 (WS-Security 1.0):
	// the asymmetric binding, the request signed with the client's
	// certificate and encrypted for the service's.
	BootstrapMutual10
)

// MessageBootstraps are every message bootstrap, in the order of their
// flag values.
var MessageBootstraps = []MessageBootstrap{BootstrapAnonymous, BootstrapUsername, BootstrapMutual, BootstrapMutual10}

// String is the bootstrap's flag value ("anonymous", "username",
// "mutual", "mutual10").
func (b MessageBootstrap) String() string {
	switch b {
	case BootstrapAnonymous:
		return "anonymous"
	case BootstrapUsername:
		return "username"
	case BootstrapMutual:
		return "mutual"
	case BootstrapMutual10:
		return "mutual10"
	}
	return fmt.Sprintf("MessageBootstrap(%d)", int(b))
}

// ParseMessageBootstrap reads a MessageBootstrap from its String form, for
// flags.
func ParseMessageBootstrap(s string) (MessageBootstrap, error) {
	for _, b := range MessageBootstraps {
		if s == b.String() {
			return b, nil
		}
	}
	names := make([]string, len(MessageBootstraps))
	for i, b := range MessageBootstraps {
		names[i] = b.String()
	}
	return 0, fmt.Errorf("unknown message bootstrap %q (%s)", s, strings.Join(names, ", "))
}
