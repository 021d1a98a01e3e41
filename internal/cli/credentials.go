package cli

import (
	"context"
	"errors"
	"net/url"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/wire/secure"
)

// secretRef is where the bootstrap's secret comes from: a source, the
// credential's name in it, and the flag that chose it, for messages.
type secretRef struct {
	src  creds.Source
	name string
	flag string
}

// get reads the credential. Messages name the flag and never the secret.
func (r *secretRef) get() (creds.Credential, error) {
	c, err := r.src.Get(context.Background(), r.name)
	if err == nil {
		return c, nil
	}
	if creds.IsNotFound(err) && r.flag == "" {
		// The default: the keyring entry named after the upstream.
		return c, usageErrorf("no secret given, and %v (or give --credential NAME, --password-env VAR, --password-file FILE or --systemd-credential NAME)", err)
	}
	if r.flag == "" {
		return c, usageErrorf("%v", err)
	}
	return c, usageErrorf("%s: %v", r.flag, err)
}

// explicitSecret returns the secret source the flags choose, or nil when
// none is given and the keyring entry named after each upstream applies.
func (o *RunOptions) explicitSecret(getenv func(string) string) (*secretRef, error) {
	var given []*secretRef
	if o.PasswordEnv != "" {
		given = append(given, &secretRef{creds.Env{Getenv: getenv}, o.PasswordEnv, "--password-env"})
	}
	if o.PasswordFile != "" {
		given = append(given, &secretRef{creds.File{}, o.PasswordFile, "--password-file"})
	}
	if o.SystemdCredential != "" {
		given = append(given, &secretRef{creds.Systemd{Dir: getenv("CREDENTIALS_DIRECTORY")}, o.SystemdCredential, "--systemd-credential"})
	}
	if o.Credential != "" {
		given = append(given, &secretRef{o.keyring(), o.Credential, "--credential"})
	}
	switch len(given) {
	case 0:
		return nil, nil
	case 1:
		return given[0], nil
	}
	return nil, usageErrorf("--password-env, --password-file, --systemd-credential and --credential: give only one")
}

// keyring is the OS keyring, unless a test chose another store.
func (o *RunOptions) keyring() creds.Source {
	if o.keyringStore != nil {
		return o.keyringStore
	}
	return flagKeyring{&creds.Keyring{}}
}

// keyringFix is what an unavailable keyring's error advises on the
// command line.
const keyringFix = "use --password-file FILE (mode 0600), --password-env VAR or --systemd-credential NAME instead, " +
	"or run scproxy in a desktop session with a Secret Service (gnome-keyring, KeePassXC)"

// flagKeyring is a keyring whose unavailable errors advise the flags of
// the other sources.
type flagKeyring struct{ creds.Store }

// Get reads the entry called name.
func (k flagKeyring) Get(ctx context.Context, name string) (creds.Credential, error) {
	c, err := k.Store.Get(ctx, name)
	return c, withKeyringFix(err)
}

// Set stores c under name.
func (k flagKeyring) Set(ctx context.Context, name string, c creds.Credential) error {
	return withKeyringFix(k.Store.Set(ctx, name, c))
}

// Delete removes the entry called name.
func (k flagKeyring) Delete(ctx context.Context, name string) error {
	return withKeyringFix(k.Store.Delete(ctx, name))
}

// withKeyringFix gives an unavailable keyring's error the command line's
// advice.
func withKeyringFix(err error) error {
	var u *creds.UnavailableError
	if !errors.As(err, &u) {
		return err
	}
	fixed := *u
	fixed.Fix = keyringFix
	return &fixed
}

// DefaultCredentialName is the keyring entry an upstream's secret is read
// from when no source is given: the upstream's host, with its port when
// it has one ("svc.example.com", "svc.example.com:8443").
func DefaultCredentialName(u *url.URL) string { return u.Host }

// bootstraps sets the credential that establishes contexts: one for every
// route when the flags name the secret or none is needed, else one per
// upstream host, read from the keyring entry named after it.
func (o *RunOptions) bootstraps(cfg *outbound.Config, getenv func(string) string) error {
	ref, err := o.explicitSecret(getenv)
	if err != nil {
		return err
	}
	if ref != nil || !o.needsSecret() {
		cfg.Bootstrap, err = o.newBootstrap(ref, cfg, cfg.Routes[0].Upstream)
		return err
	}
	made := map[string]session.Bootstrap{}
	for i, r := range cfg.Routes {
		name := DefaultCredentialName(r.Upstream)
		b, ok := made[name]
		if !ok {
			if b, err = o.newBootstrap(&secretRef{src: o.keyring(), name: name}, cfg, r.Upstream); err != nil {
				return err
			}
			made[name] = b
		}
		cfg.Routes[i].Bootstrap = b
	}
	return nil
}

// needsSecret reports whether the chosen bootstrap needs a secret: a
// password, a PKCS#12 passphrase, a proof key.
func (o *RunOptions) needsSecret() bool {
	switch o.Bootstrap {
	case "certificate":
		return o.PKCS12File != ""
	case "kerberos":
		return o.Keytab == ""
	}
	return true
}

// newBootstrap makes the bootstrap --bootstrap names for the service at
// svc, reading its secret from ref.
func (o *RunOptions) newBootstrap(ref *secretRef, cfg *outbound.Config, svc *url.URL) (session.Bootstrap, error) {
	var c creds.Credential
	if o.needsSecret() {
		var err error
		if c, err = ref.get(); err != nil {
			return nil, err
		}
	}
	switch o.Bootstrap {
	case "username":
		user, err := o.user(c)
		if err != nil {
			return nil, err
		}
		return session.Username{User: user, Password: c.Secret, Digest: o.PasswordDigest}, nil
	case "certificate":
		cert, err := o.certificate(c.Secret)
		if err != nil {
			return nil, err
		}
		return bootstrap.NewCertificate(cert)
	case "issued-token":
		return o.issuedToken(c, cfg, svc)
	case "kerberos":
		return o.kerberos(c)
	}
	return nil, usageErrorf("--bootstrap %q: want %s", o.Bootstrap, orList(bootstrapNames))
}

// bootstrapNames are the values of --bootstrap.
var bootstrapNames = []string{"username", "certificate", "issued-token", "kerberos"}

// user returns the user name: --username, or the one stored with the
// credential; when both are given they must agree.
func (o *RunOptions) user(c creds.Credential) (string, error) {
	switch {
	case o.Username != "" && c.Username != "" && o.Username != c.Username:
		return "", usageErrorf("--username %q: the credential is stored for user %q; drop --username or store the credential again", o.Username, c.Username)
	case o.Username != "":
		return o.Username, nil
	case c.Username != "":
		return c.Username, nil
	}
	return "", usageErrorf("--username: required to establish security contexts (or store the user with: scproxy creds set NAME --username USER)")
}

// certificate loads --cert-file/--key-file or --pkcs12-file.
func (o *RunOptions) certificate(passphrase creds.Secret) (secure.Certificate, error) {
	pemGiven := o.CertFile != "" || o.KeyFile != ""
	switch {
	case pemGiven && o.PKCS12File != "":
		return secure.Certificate{}, usageErrorf("--cert-file/--key-file and --pkcs12-file: give only one")
	case o.PKCS12File != "":
		c, err := bootstrap.LoadPKCS12(o.PKCS12File, passphrase)
		return c, flagErr("--pkcs12-file", err)
	case o.CertFile == "" || o.KeyFile == "":
		return secure.Certificate{}, usageErrorf("no certificate: give --cert-file and --key-file (PEM), or --pkcs12-file")
	}
	c, err := bootstrap.LoadPEM(o.CertFile, o.KeyFile)
	if errors.Is(err, bootstrap.ErrEncryptedKey) {
		return c, usageErrorf("--key-file: %v and use --pkcs12-file", err)
	}
	return c, flagErr("--cert-file/--key-file", err)
}

// flagErr makes err a usage error naming flag, or the flag of the
// setting a *setting.Error names.
func flagErr(flag string, err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	var se *setting.Error
	if errors.As(err, &se) {
		if _, ok := configFlags[se.Field]; ok {
			return usageErrorf("%s", se.Describe(func(field string) string { return configFlags[field] }))
		}
	}
	return usageErrorf("%s: %v", flag, err)
}

// x509Certificate loads the certificate the x509 profile signs with; its
// PKCS#12 passphrase comes from the secret flags, or the keyring entry
// named after the first upstream.
func (o *RunOptions) x509Certificate(cfg *outbound.Config, getenv func(string) string) error {
	var pass creds.Secret
	if o.PKCS12File != "" {
		ref, err := o.explicitSecret(getenv)
		if err != nil {
			return err
		}
		if ref == nil {
			ref = &secretRef{src: o.keyring(), name: DefaultCredentialName(cfg.Routes[0].Upstream)}
		}
		c, err := ref.get()
		if err != nil {
			return err
		}
		pass = c.Secret
	}
	cert, err := o.certificate(pass)
	if err != nil {
		return err
	}
	b, err := bootstrap.NewCertificate(cert)
	if err != nil {
		return flagErr("--cert-file", err)
	}
	c := b.Credential()
	cfg.Certificate = &c
	return nil
}
