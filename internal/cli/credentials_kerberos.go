package cli

import (
	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/session"
)

// kerberos makes the Kerberos bootstrap: the user's principal (--username
// or the one stored with the credential) with the stored password, or
// --keytab; realm and KDCs from --krb5-conf.
func (o *RunOptions) kerberos(c creds.Credential) (session.Bootstrap, error) {
	user, err := o.user(c)
	if err != nil {
		return nil, err
	}
	b, err := bootstrap.NewKerberos(bootstrap.KerberosConfig{
		Krb5Conf: o.Krb5Conf, Principal: user, Password: c.Secret, KeytabFile: o.Keytab, SPN: o.SPN,
	})
	return b, flagErr("--bootstrap kerberos", err)
}
