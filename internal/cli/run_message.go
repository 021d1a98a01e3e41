package cli

import (
	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/wsa"
)

// messageBootstraps are the values of --message-bootstrap, and the
// credential flags (as --bootstrap names them) each reads.
var messageBootstraps = []choice[messageBootstrap]{
	{"anonymous", messageBootstrap{bootstrap.AnonymousForCertificate, ""}},
	{"username", messageBootstrap{bootstrap.UserNameForCertificate, "username"}},
	{"mutual", messageBootstrap{bootstrap.MutualCertificate, "certificate"}},
	{"mutual10", messageBootstrap{bootstrap.MutualCertificate10, "certificate"}},
}

// messageBootstrap is a bootstrap binding and the credential it takes:
// "" (none), "username" or "certificate".
type messageBootstrap struct {
	kind bootstrap.MessageKind
	cred string
}

// messageRenews are the values of --message-renew: whether a Renew goes
// under the bootstrap binding.
var messageRenews = []choice[bool]{{"context", false}, {"bootstrap", true}}

// protectionOrders are the values of --protection-order.
var protectionOrders = []choice[msgsec.Order]{
	{"sign-encrypt-signature", msgsec.SignBeforeEncryptAndEncryptSignature},
	{"sign-encrypt", msgsec.SignBeforeEncrypt},
	{"encrypt-sign", msgsec.EncryptBeforeSign},
}

// messageProfile reports whether the flags choose --profile message for
// secured traffic.
func (o *RunOptions) messageProfile() bool { return o.Security == "context" && o.Profile == "message" }

// messageSettings reads the settings of --profile message into cfg: the
// suite, the order, and derived keys on unless --derived-keys says
// otherwise (WCF's default in this profile), a context key of the suite's
// key size unless --key-size says otherwise, and WS-Addressing 1.0 unless
// --addressing says otherwise. The flags of the profile
// are refused under the others, and --bootstrap under this one, whose
// establishment --message-bootstrap chooses.
func (o *RunOptions) messageSettings(cfg *outbound.Config) error {
	if !o.messageProfile() {
		if o.ServerCert != "" {
			return usageErrorf("--server-cert: used by --profile message only")
		}
		if o.ResendAfterClearFault {
			return usageErrorf("--resend-after-clear-fault: used by --profile message only (the other profiles run over https://, where a fault is the service's)")
		}
		return nil
	}
	if o.bootstrapGiven {
		return usageErrorf("--bootstrap %s: --profile message establishes its context under --message-bootstrap (anonymous, username, mutual or mutual10) instead", o.Bootstrap)
	}
	if _, err := pick("--message-bootstrap", o.MessageBootstrap, messageBootstraps); err != nil {
		return err
	}
	if _, err := pick("--message-renew", o.MessageRenew, messageRenews); err != nil {
		return err
	}
	if o.ServerCert == "" {
		return usageErrorf("--server-cert: required by --profile message: the service's certificate (PEM), for which the key of the context's Issue is encrypted")
	}
	suite, err := msgsec.SuiteByName(o.AlgorithmSuite)
	if err != nil {
		return usageErrorf("--algorithm-suite %q: want Basic256, Basic192, Basic128 or TripleDes, each optionally followed by Sha256 and then Rsa15 (e.g. Basic256Sha256, Basic128Rsa15)", o.AlgorithmSuite)
	}
	order, err := pick("--protection-order", o.ProtectionOrder, protectionOrders)
	if err != nil {
		return err
	}
	cfg.Message = outbound.MessageSecurity{Suite: suite, Order: order, ResendAfterClearFault: o.ResendAfterClearFault}
	if !o.derivedKeysGiven {
		cfg.DerivedKeys = true
	}
	if !o.keySizeGiven {
		// WCF asks for the suite's symmetric key length (128 bits under
		// Basic128), which a key used without derivation must have.
		cfg.KeySize = 8 * suite.KeyLength()
	}
	if !o.addressingGiven {
		// WCF's wsHttpBinding's: each answer is then tied to its request
		// by a signed RelatesTo, whatever the application sent.
		cfg.Addressing = outbound.Addressing{Version: wsa.V10}
	}
	return nil
}

// messageBootstraps sets the bootstrap binding of every route: the
// service's certificate and the settings, with the credential the binding
// takes (the username flags, the certificate flags, or none), read as
// --bootstrap username or certificate would read it.
func (o *RunOptions) messageBootstraps(cfg *outbound.Config, getenv func(string) string) error {
	mb, err := pick("--message-bootstrap", o.MessageBootstrap, messageBootstraps)
	if err != nil {
		return err
	}
	cert, err := bootstrap.LoadServerCertificate(o.ServerCert)
	if err != nil {
		return flagErr("--server-cert", err)
	}
	renew, err := pick("--message-renew", o.MessageRenew, messageRenews)
	if err != nil {
		return err
	}
	base := bootstrap.MessageConfig{
		Kind: mb.kind, ServerCert: cert, Version: cfg.SC, Suite: cfg.Message.Suite, Order: cfg.Message.Order,
		DerivedKeys: cfg.DerivedKeys, SignatureMethod: cfg.SignatureMethod, RenewUnderBootstrap: renew,
	}
	if mb.cred == "" {
		cfg.Bootstrap, err = bootstrap.NewMessage(base)
		return flagErr("--message-bootstrap", err)
	}
	saved := o.Bootstrap
	o.Bootstrap = mb.cred
	err = o.bootstraps(cfg, getenv)
	o.Bootstrap = saved
	if err != nil {
		return err
	}
	wrap := func(b session.Bootstrap) (session.Bootstrap, error) {
		if b == nil {
			return nil, nil
		}
		c := base
		switch cred := b.(type) {
		case session.Username:
			c.User, c.Password, c.Digest = cred.User, cred.Password, cred.Digest
		case *bootstrap.Certificate:
			cc := cred.Credential()
			c.Client = &cc
		}
		m, err := bootstrap.NewMessage(c)
		return m, flagErr("--message-bootstrap", err)
	}
	if cfg.Bootstrap, err = wrap(cfg.Bootstrap); err != nil {
		return err
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].Bootstrap, err = wrap(cfg.Routes[i].Bootstrap); err != nil {
			return err
		}
	}
	return nil
}
