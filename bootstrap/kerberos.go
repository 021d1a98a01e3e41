package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
)

// KerberosConfig configures a Kerberos bootstrap. The KDCs come from
// Krb5Conf, or from Realm and KDCs; KDCs given with Krb5Conf replace the
// realm's there.
type KerberosConfig struct {
	// Krb5Conf is the path of a krb5.conf.
	Krb5Conf string
	// Realm is the user's realm; empty means the one in Principal, else
	// krb5.conf's default_realm.
	Realm string
	// KDCs are "host" or "host:port" addresses of the realm's KDCs.
	KDCs []string
	// Principal is the user, "alice" or "alice@EXAMPLE.COM".
	Principal string
	// Password or KeytabFile (exactly one) is the user's credential.
	Password   creds.Secret
	KeytabFile string
	// SPN is the service principal, without realm: "HTTP/svc.example.com".
	SPN string
	// Logger receives debug lines about logins and tickets, never a
	// secret; nil discards them.
	Logger *slog.Logger
}

// Kerberos bootstraps with a Kerberos service ticket (WS-Security Kerberos
// Token Profile 1.1): the Issue request carries an AP-REQ for the service
// as a BinarySecurityToken and an HMAC-SHA1 signature over the Timestamp
// (and wsa:To) keyed with the session key, which proves that the sender
// holds the ticket.
//
// It logs in to the KDC on first use and keeps the TGT and the service
// ticket; gokrb5's client renews the TGT in the background and logs in
// again when it cannot. Close stops that. A Kerberos is safe for
// concurrent use.
type Kerberos struct {
	user, realm, spn string
	password         creds.Secret
	keytab           *keytab.Keytab
	krb5             *config.Config
	log              *slog.Logger

	// mu guards cl and closed. Only the goroutine that talks to the KDC
	// holds it across the exchange; callers wait on a channel and their
	// context, never on mu.
	mu     sync.Mutex
	cl     *client.Client
	closed bool
	// tickets shares one KDC exchange among concurrent callers.
	tickets *credcache.Cache[*ticket]
}

// Errors a KerberosError wraps, for callers that branch.
var (
	// ErrKDCAuthentication: the KDC refused the user's credential (wrong
	// password or keytab key, unknown or disabled principal).
	ErrKDCAuthentication = errors.New("authentication failed at the KDC")
	// ErrKDCUnreachable: no KDC of the realm answered.
	ErrKDCUnreachable = errors.New("no KDC could be reached")
	// ErrKerberosClosed: Secure was called after Close.
	ErrKerberosClosed = errors.New("the kerberos bootstrap is closed")
)

// KerberosError is a failed exchange with the KDC. It names the principal
// and what failed; it never holds the password or a key.
type KerberosError struct {
	// Principal is the user, user@REALM.
	Principal string
	// Doing is the step that failed: "login" (AS exchange) or "service
	// ticket for HTTP/..." (TGS exchange).
	Doing string
	// Reason is what went wrong, in words.
	Reason string
	kind   error
	err    error
}

func (e *KerberosError) Error() string {
	s := fmt.Sprintf("kerberos %s of %s: %s", e.Doing, e.Principal, e.Reason)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the sentinel (ErrKDCAuthentication, ErrKDCUnreachable)
// when one applies, and the underlying error.
func (e *KerberosError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.kind, e.err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// realmPattern is what a realm may look like: it is written into a
// generated krb5.conf, so nothing that could start a new section or entry.
var realmPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.\-_]*$`)

// NewKerberos checks c and reads the krb5.conf and keytab it names. It
// does not contact the KDC: Secure logs in on first use.
func NewKerberos(c KerberosConfig) (*Kerberos, error) {
	k := &Kerberos{user: c.Principal, realm: c.Realm, spn: c.SPN, password: c.Password, log: c.Logger}
	k.tickets = credcache.New(credcache.Config[*ticket]{Lifetime: (*ticket).lifetime})
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if user, realm, ok := strings.Cut(c.Principal, "@"); ok {
		if c.Realm != "" && c.Realm != realm {
			return nil, setting.Errorf("KerberosConfig.Principal", "", "principal %q is not in realm %q", c.Principal, c.Realm)
		}
		k.user, k.realm = user, realm
	}
	if err := k.checkNames(c); err != nil {
		return nil, err
	}
	var err error
	if k.krb5, err = krb5Config(c.Krb5Conf, k.realm, c.KDCs); err != nil {
		return nil, err
	}
	if k.realm == "" {
		k.realm = k.krb5.LibDefaults.DefaultRealm
	}
	if k.realm == "" {
		return nil, setting.Errorf("KerberosConfig.Realm", "", "no realm for %q: give one or set default_realm in krb5.conf", k.user)
	}
	if len(c.KDCs) > 0 {
		if err := setKDCs(k.krb5, k.realm, c.KDCs); err != nil {
			return nil, err
		}
	}
	if c.KeytabFile != "" {
		if k.keytab, err = keytab.Load(c.KeytabFile); err != nil {
			return nil, fmt.Errorf("kerberos: keytab %s: %w", c.KeytabFile, err)
		}
	}
	return k, nil
}

// checkNames validates what NewKerberos needs besides files; its
// *setting.Error names the KerberosConfig field at fault.
func (k *Kerberos) checkNames(c KerberosConfig) error {
	switch {
	case k.user == "" || strings.ContainsAny(k.user, "@\x00"):
		return setting.Errorf("KerberosConfig.Principal", "", "principal %q is not a user name", c.Principal)
	case c.Password.IsZero() == (c.KeytabFile == ""):
		return setting.Errorf("KerberosConfig.KeytabFile", "", "%s needs exactly one of a password and a keytab", k.user)
	case c.SPN == "":
		return setting.Errorf("KerberosConfig.SPN", "", "the service principal is required, such as HTTP/svc.example.com")
	case strings.ContainsAny(c.SPN, "@ \t\r\n"):
		return setting.Errorf("KerberosConfig.SPN", "", "service principal %q must be given without realm, such as HTTP/svc.example.com", c.SPN)
	case k.realm != "" && !realmPattern.MatchString(k.realm):
		return setting.Errorf("KerberosConfig.Realm", "", "realm %q is not valid", k.realm)
	case c.Krb5Conf == "" && (k.realm == "" || len(c.KDCs) == 0):
		return setting.Errorf("KerberosConfig.Krb5Conf", "", "without a krb5.conf both a realm and KDC addresses are needed")
	}
	return nil
}

// krb5Config loads path, or starts from gokrb5's defaults without DNS
// lookups when path is empty.
func krb5Config(path, realm string, kdcs []string) (*config.Config, error) {
	if path == "" {
		cfg := config.New()
		cfg.LibDefaults.DefaultRealm = realm
		cfg.LibDefaults.DNSLookupKDC = false
		cfg.LibDefaults.DNSLookupRealm = false
		return cfg, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("kerberos: krb5.conf %s: %w", path, err)
	}
	return cfg, nil
}

// setKDCs makes kdcs the KDCs of realm in cfg, port 88 when none is given.
func setKDCs(cfg *config.Config, realm string, kdcs []string) error {
	addrs := make([]string, 0, len(kdcs))
	for _, a := range kdcs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			host, port = a, "88"
		}
		if host == "" || strings.ContainsAny(host, " \t\r\n{}=/") {
			return setting.Errorf("KerberosConfig.KDCs", "", "KDC address %q is not host or host:port", a)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	for i := range cfg.Realms {
		if cfg.Realms[i].Realm == realm {
			cfg.Realms[i].KDC = addrs
			return nil
		}
	}
	cfg.Realms = append(cfg.Realms, config.Realm{Realm: realm, KDC: addrs})
	return nil
}

// Principal returns the user principal, user@REALM.
func (k *Kerberos) Principal() string { return k.user + "@" + k.realm }

// Kind returns "kerberos".
func (k *Kerberos) Kind() string { return "kerberos" }

// String names the principal and the service, never the password or keys.
func (k *Kerberos) String() string { return "kerberos " + k.Principal() + " for " + k.spn }

// GoString is String, so %#v cannot print the password either.
func (k *Kerberos) GoString() string { return k.String() }

// LogValue is String, so a structured logger cannot print the password.
func (k *Kerberos) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Close forgets the tickets and stops the TGT renewal; Secure fails
// afterwards. It waits for a KDC exchange under way (gokrb5 bounds each
// with 5 s per KDC). Closing twice is harmless.
func (k *Kerberos) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cl != nil {
		k.cl.Destroy()
		k.cl = nil
	}
	k.closed = true
	return nil
}

// Secure adds a Timestamp, an AP-REQ for the service and the signature
// made with its session key to env. Getting the ticket may take a KDC
// exchange, under ctx: when ctx ends first Secure returns while the
// exchange completes in the background for the next caller.
func (k *Kerberos) Secure(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, error) {
	if o.Now == nil {
		return nil, errors.New("kerberos: no clock")
	}
	tkt, key, err := k.serviceTicket(ctx)
	if err != nil {
		return nil, err
	}
	gss, subkey, err := k.apReq(tkt, key, o)
	if err != nil {
		return nil, err
	}
	return secure.WithKerberos(env, secure.Kerberos{GSSToken: gss, Key: subkey}, o)
}

// ticket is a service ticket and its session key from the client cache.
type ticket struct {
	tkt     messages.Ticket
	key     types.EncryptionKey
	fetched time.Time
}

// lifetime is the ticket's life in the cache: none beyond the fetch that
// got it, shared by the callers that waited for it. gokrb5's client keeps
// the ticket until its end time, which it does not expose, and renews it;
// asking it again costs no KDC exchange while the ticket is valid.
func (t *ticket) lifetime() (from, until time.Time) { return t.fetched, t.fetched }

// serviceTicket returns the service ticket, logging in first when needed.
// Concurrent callers share one fetch. gokrb5's exchanges take no
// context, so the fetch runs in a goroutine of the cache that a caller
// stops waiting for when ctx ends.
func (k *Kerberos) serviceTicket(ctx context.Context) (messages.Ticket, types.EncryptionKey, error) {
	t, err := k.tickets.Get(ctx, func(context.Context) (*ticket, error) {
		fetched := time.Now()
		tkt, key, err := k.fetch()
		if err != nil {
			return nil, err
		}
		return &ticket{tkt: tkt, key: key, fetched: fetched}, nil
	})
	switch {
	case err != nil && ctx.Err() != nil && err == ctx.Err():
		return messages.Ticket{}, types.EncryptionKey{}, fmt.Errorf("kerberos: waiting for the KDC for %s: %w", k.Principal(), context.Cause(ctx))
	case err != nil:
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	return t.tkt, t.key, nil
}

// fetch logs in when there is no TGT yet and gets the service ticket from
// the cache or the KDC.
func (k *Kerberos) fetch() (messages.Ticket, types.EncryptionKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return messages.Ticket{}, types.EncryptionKey{}, ErrKerberosClosed
	}
	if k.cl == nil {
		cl := k.newClient()
		if err := cl.Login(); err != nil {
			cl.Destroy()
			return messages.Ticket{}, types.EncryptionKey{}, k.kdcError("login", err)
		}
		k.log.Debug("kerberos login", "principal", k.Principal(), "credential", k.credentialKind())
		k.cl = cl
	}
	tkt, key, err := k.cl.GetServiceTicket(k.spn)
	if err != nil {
		return tkt, key, k.kdcError("service ticket for "+k.spn, err)
	}
	k.log.Debug("kerberos service ticket", "principal", k.Principal(), "spn", k.spn, "etype", key.KeyType)
	return tkt, key, nil
}

func (k *Kerberos) newClient() *client.Client {
	// FAST armour needs a host key scproxy does not have; MIT and AD KDCs
	// accept encrypted-timestamp pre-authentication without it.
	if k.keytab != nil {
		return client.NewWithKeytab(k.user, k.realm, k.keytab, k.krb5, client.DisablePAFXFAST(true))
	}
	return client.NewWithPassword(k.user, k.realm, k.password.Reveal(), k.krb5, client.DisablePAFXFAST(true))
}

func (k *Kerberos) credentialKind() string {
	if k.keytab != nil {
		return "keytab"
	}
	return "password"
}

// kdcError classifies a gokrb5 failure. gokrb5 flattens the KDC's error
// into text, so the KRB-ERROR code names are matched in it.
func (k *Kerberos) kdcError(doing string, err error) error {
	e := &KerberosError{Principal: k.Principal(), Doing: doing, err: err}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		e.Reason, e.kind = "authentication failed at the KDC: the KDC does not know the principal", ErrKDCAuthentication
	case strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"), strings.Contains(msg, "password/keytab incorrect"):
		e.Reason, e.kind = fmt.Sprintf("authentication failed at the KDC: wrong %s", k.credentialKind()), ErrKDCAuthentication
	case strings.Contains(msg, "KDC_ERR_CLIENT_REVOKED"), strings.Contains(msg, "KDC_ERR_KEY_EXPIRED"):
		e.Reason, e.kind = "authentication failed at the KDC: the principal is disabled or its key expired", ErrKDCAuthentication
	case strings.Contains(msg, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		e.Reason = "the KDC does not know the service principal " + k.spn
	case strings.Contains(msg, "Networking_Error"):
		e.Reason, e.kind = "no KDC of "+k.realm+" answered", ErrKDCUnreachable
	default:
		e.Reason = "the KDC exchange failed"
	}
	return e
}

// gssFlags are the GSS-API context flags the authenticator's checksum
// requests: integrity and confidentiality, which the session key serves.
// Mutual authentication is not asked for: WS-Security has no AP-REP.
const gssFlags = gssapi.ContextFlagInteg | gssapi.ContextFlagConf

// apReq builds a fresh AP-REQ for tkt at o.Now, with a random subkey of
// the session key's type, and returns it in GSS-API framing with the
// subkey, the key the signature uses.
func (k *Kerberos) apReq(tkt messages.Ticket, sessionKey types.EncryptionKey, o secure.Options) ([]byte, []byte, error) {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	et, err := crypto.GetEtype(sessionKey.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: session key type %d: %w", sessionKey.KeyType, err)
	}
	sub := make([]byte, et.GetKeyByteSize())
	var seq [4]byte
	if _, err := io.ReadFull(r, sub); err != nil {
		return nil, nil, fmt.Errorf("kerberos: subkey: %w", err)
	}
	if _, err := io.ReadFull(r, seq[:]); err != nil {
		return nil, nil, fmt.Errorf("kerberos: sequence number: %w", err)
	}
	now := o.Now().UTC()
	auth := types.Authenticator{
		AVNO:      iana.PVNO,
		CRealm:    k.realm,
		CName:     types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, k.user),
		Cksum:     types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: gssChecksum(gssFlags)},
		CTime:     now.Truncate(time.Second),
		Cusec:     now.Nanosecond() / 1000,
		SubKey:    types.EncryptionKey{KeyType: sessionKey.KeyType, KeyValue: sub},
		SeqNumber: int64(binary.BigEndian.Uint32(seq[:]) & 0x3fffffff),
	}
	req, err := messages.NewAPReq(tkt, sessionKey, auth)
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: AP-REQ for %s: %w", k.spn, err)
	}
	der, err := req.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: AP-REQ for %s: %w", k.spn, err)
	}
	return wss.WrapGSSKerberosAPREQ(der), sub, nil
}

// gssChecksum is the authenticator checksum of RFC 4121 §4.1.1: the
// length of the channel binding hash (16), a zero hash (no channel
// bindings) and the context flags, little-endian.
func gssChecksum(flags uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return b
}
