package cli

import (
	"errors"
	"net/url"
	"os"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
	stsclient "github.com/scproxy/scproxy/upstream"
)

// issuedToken makes the issued-token bootstrap: a token from --token-file
// whose proof key (base64) is the secret, or one fetched from --token-sts
// with the user name and password, for the service at svc unless
// --token-applies-to names another.
func (o *RunOptions) issuedToken(c creds.Credential, cfg *outbound.Config, svc *url.URL) (session.Bootstrap, error) {
	switch {
	case o.TokenFile != "" && o.TokenSTS != "":
		return nil, usageErrorf("--token-file and --token-sts: give only one")
	case o.TokenFile != "":
		xml, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", pathless(err))
		}
		b, err := bootstrap.NewIssuedTokenFromXML(xml, c.Secret)
		if errors.Is(err, bootstrap.ErrProofKeyEncoding) {
			return nil, usageErrorf("--token-file: the secret must be the token's proof key in base64")
		}
		return b, flagErr("--token-file", err)
	case o.TokenSTS != "":
		stsURL, err := upstreamURL("--token-sts", o.TokenSTS)
		if err != nil {
			return nil, err
		}
		user, err := o.user(c)
		if err != nil {
			return nil, err
		}
		appliesTo := o.TokenAppliesTo
		if appliesTo == "" {
			appliesTo = svc.String()
		}
		b, err := bootstrap.NewIssuedTokenFromSTS(bootstrap.TokenSTS{
			URL: stsURL, AllowPlainHTTP: cfg.AllowPlainHTTP, Version: cfg.SC, Username: user, Password: c.Secret, AppliesTo: appliesTo,
			Client: stsclient.New(stsclient.Config{RootCAs: cfg.RootCAs, Timeout: cfg.EstablishTimeout}), Logger: cfg.Logger,
		})
		return b, flagErr("--token-sts", err)
	}
	return nil, usageErrorf("--bootstrap issued-token: give --token-file FILE (the secret is its proof key) or --token-sts URL")
}

// pathless drops the *os.PathError's copy of a path the message names.
func pathless(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
