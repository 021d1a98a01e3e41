package scserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// KerberosAcceptor verifies the Kerberos bootstrap (WS-Security Kerberos
// Token Profile 1.1) for one service principal: AP-REQs of tickets for
// that principal, decrypted with its keytab. It remembers the
// authenticators it accepted for the clock skew, so that a replayed
// Issue request is refused. One acceptor may serve several servers of the
// same principal; it is safe for concurrent use.
type KerberosAcceptor struct {
	keytab *keytab.Keytab
	spn    types.PrincipalName
	realm  string // the SPN's realm when given; any realm of the keytab otherwise
	replay *replayCache
}

// DefaultReplayEntries bounds the authenticators a KerberosAcceptor
// remembers at once; beyond that, new ones are refused until old ones age
// out (failing closed, as RFC 4120 §3.2.3 asks of a server that cannot
// remember).
const DefaultReplayEntries = 1 << 16

// NewKerberosAcceptor returns an acceptor for spn ("HTTP/svc.example.com",
// optionally "@REALM") whose keys are in kt.
func NewKerberosAcceptor(kt *keytab.Keytab, spn string) (*KerberosAcceptor, error) {
	if kt == nil || len(kt.Entries) == 0 {
		return nil, errors.New("scserver: the Kerberos keytab is empty")
	}
	name, realm := types.ParseSPNString(spn)
	if spn == "" || len(name.NameString) == 0 || name.NameString[0] == "" {
		return nil, fmt.Errorf("scserver: Kerberos service principal %q is not a principal name", spn)
	}
	found := false
	for _, e := range kt.Entries {
		found = found || (name.Equal(types.PrincipalName{NameString: e.Principal.Components}) && (realm == "" || realm == e.Principal.Realm))
	}
	if !found {
		return nil, fmt.Errorf("scserver: the keytab holds no key for %s", spn)
	}
	return &KerberosAcceptor{keytab: kt, spn: name, realm: realm, replay: newReplayCache(DefaultReplayEntries)}, nil
}

// LoadKerberosAcceptor reads the keytab file path and returns an acceptor
// for spn.
func LoadKerberosAcceptor(path, spn string) (*KerberosAcceptor, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, fmt.Errorf("scserver: Kerberos keytab %s: %w", path, err)
	}
	return NewKerberosAcceptor(kt, spn)
}

// String names the service principal.
func (a *KerberosAcceptor) String() string {
	s := "kerberos acceptor for " + a.spn.PrincipalNameString()
	if a.realm != "" {
		s += "@" + a.realm
	}
	return s
}

// hasKerberosToken reports whether sec holds a Kerberos
// BinarySecurityToken, which makes the request a Kerberos bootstrap.
func hasKerberosToken(sec *etree.Element) bool { return len(kerberosTokens(sec)) > 0 }

// kerberosTokens returns the Kerberos BinarySecurityTokens of sec.
func kerberosTokens(sec *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, c := range sec.ChildElements() {
		if wss.IsKerberosToken(c) {
			out = append(out, c)
		}
	}
	return out
}

// checkKerberos verifies a Kerberos bootstrap: exactly one Kerberos token
// whose AP-REQ is for this service and fresh, one Signature keyed with
// its session key that references the token and covers a fresh
// Timestamp, and an authenticator not seen before.
func (s *Server) checkKerberos(root, sec *etree.Element, v wssc.Version, now time.Time, endorsing *etree.Element) (string, *rejection) {
	a := s.cfg.Kerberos
	if a == nil {
		return "", reject(codeFailedAuthentication, "Kerberos authentication is not enabled on this server")
	}
	toks := kerberosTokens(sec)
	if len(toks) != 1 {
		return "", reject(codeInvalidSecurity, "the Security header holds %d Kerberos tokens, expected 1", len(toks))
	}
	der, err := wss.ParseKerberosToken(toks[0])
	if err != nil {
		return "", reject(codeInvalidSecurityToken, "the Kerberos token is malformed: %v", err)
	}
	ap, rej := a.accept(der, now, s.cfg.Skew)
	if rej != nil {
		return "", rej
	}
	sig, rej := bootstrapSignature(sec, endorsing)
	if rej != nil {
		return "", rej
	}
	resolve := func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		if err := referencesToken(sec, keyInfo, toks[0], wss.ValueTypeGSSKerberosAPREQ); err != nil {
			return nil, &keyError{err}
		}
		k, err := dsig.HMACKey(method, ap.key)
		if err != nil {
			return nil, &keyError{fmt.Errorf("a Kerberos session key signs with HMAC only: %w", err)}
		}
		return k, nil
	}
	signed, err := dsig.Verify(root, sig, resolve, dsig.DefaultPolicy)
	if err != nil {
		return "", signatureRejection(err, v)
	}
	if _, rej := s.timestampIn(sec, signed, now); rej != nil {
		return "", rej
	}
	if rej := a.replay.add(ap.replayKey, now, s.cfg.Skew); rej != nil {
		return "", rej
	}
	return "krb5:" + ap.client, nil
}

// referencesToken checks that keyInfo holds one SecurityTokenReference
// whose Reference points, by wsu:Id, at tok and at no other child of sec,
// with valueType or no ValueType.
func referencesToken(sec, keyInfo, tok *etree.Element, valueType string) error {
	if keyInfo == nil {
		return errors.New("the signature has no KeyInfo")
	}
	strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
	if err != nil {
		return err
	}
	str, err := wss.ParseSTR(strEl)
	if err != nil {
		return err
	}
	if str.Reference == nil || !str.Reference.Local() {
		return errors.New("the key reference does not point to a token in the message")
	}
	if vt := str.Reference.ValueType; vt != "" && vt != valueType {
		return fmt.Errorf("the key reference has ValueType %q, not %q", vt, valueType)
	}
	var found []*etree.Element
	for _, c := range sec.ChildElements() {
		if id, ok := wss.ID(c); ok && id == str.Reference.Target() {
			found = append(found, c)
		}
	}
	if len(found) != 1 || found[0] != tok {
		return fmt.Errorf("the key reference %q does not name the one Kerberos token of the Security header", str.Reference.URI)
	}
	return nil
}

// acceptedAPReq is what a verified AP-REQ yields.
type acceptedAPReq struct {
	client    string // principal@REALM
	key       []byte // the authenticator's subkey, else the ticket's session key
	replayKey replayKey
}

// accept verifies an AP-REQ at now: a ticket for this service that the
// keytab decrypts, valid at now within skew, an authenticator that the
// ticket's session key decrypts, by the ticket's client, made within skew
// of now, with a well-formed GSS-API checksum.
func (a *KerberosAcceptor) accept(der []byte, now time.Time, skew time.Duration) (out *acceptedAPReq, rej *rejection) {
	// gokrb5 indexes into decoded names without checking their length; a
	// hostile token must cost a fault, not the request's goroutine.
	defer func() {
		if r := recover(); r != nil {
			out, rej = nil, reject(codeInvalidSecurityToken, "the Kerberos AP-REQ cannot be processed")
		}
	}()
	var ap messages.APReq
	if err := ap.Unmarshal(der); err != nil {
		return nil, reject(codeInvalidSecurityToken, "the Kerberos AP-REQ does not decode: %v", err)
	}
	if rej := a.checkTicket(&ap.Ticket, now, skew); rej != nil {
		return nil, rej
	}
	if rej := checkAuthenticator(&ap, now, skew); rej != nil {
		return nil, rej
	}
	enc := ap.Ticket.DecryptedEncPart
	auth := ap.Authenticator
	client := enc.CName.PrincipalNameString() + "@" + enc.CRealm
	key := enc.Key.KeyValue
	if len(auth.SubKey.KeyValue) > 0 {
		key = auth.SubKey.KeyValue
	}
	return &acceptedAPReq{client: client, key: key, replayKey: replayKey{client: client, ctime: auth.CTime.Unix(), cusec: auth.Cusec}}, nil
}

// checkTicket checks that the ticket is for this service, decrypts it with
// the keytab and checks its validity period at now.
func (a *KerberosAcceptor) checkTicket(t *messages.Ticket, now time.Time, skew time.Duration) *rejection {
	if !t.SName.Equal(a.spn) || (a.realm != "" && t.Realm != a.realm) {
		return reject(codeFailedAuthentication, "the Kerberos ticket is for %s@%s, not for this service (%s)", t.SName.PrincipalNameString(), t.Realm, a.spn.PrincipalNameString())
	}
	if err := t.DecryptEncPart(a.keytab, &a.spn); err != nil {
		return reject(codeFailedAuthentication, "the Kerberos ticket cannot be decrypted with the service's key: %v", err)
	}
	enc := &t.DecryptedEncPart
	start := enc.StartTime
	if start.IsZero() {
		start = enc.AuthTime
	}
	switch {
	case types.IsFlagSet(&enc.Flags, flags.Invalid):
		return reject(codeFailedAuthentication, "the Kerberos ticket is flagged invalid")
	case start.After(now.Add(skew)):
		return reject(codeFailedAuthentication, "the Kerberos ticket is valid only from %s", wss.FormatTime(start))
	case now.After(enc.EndTime.Add(skew)):
		return reject(codeFailedAuthentication, "the Kerberos ticket expired at %s", wss.FormatTime(enc.EndTime))
	}
	return nil
}

// checkAuthenticator decrypts the authenticator with the ticket's session
// key (key usage 11, RFC 4120 §5.5.1) and checks it.
func checkAuthenticator(ap *messages.APReq, now time.Time, skew time.Duration) *rejection {
	enc := &ap.Ticket.DecryptedEncPart
	b, err := crypto.DecryptEncPart(ap.EncryptedAuthenticator, enc.Key, keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		return reject(codeFailedAuthentication, "the Kerberos authenticator cannot be decrypted with the ticket's session key: %v", err)
	}
	auth := &ap.Authenticator
	if err := auth.Unmarshal(b); err != nil {
		return reject(codeInvalidSecurityToken, "the Kerberos authenticator does not decode: %v", err)
	}
	if !auth.CName.Equal(enc.CName) || auth.CRealm != enc.CRealm {
		return reject(codeFailedAuthentication, "the Kerberos authenticator is by %s@%s, the ticket for %s@%s",
			auth.CName.PrincipalNameString(), auth.CRealm, enc.CName.PrincipalNameString(), enc.CRealm)
	}
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ctime).Abs(); d > skew {
		return reject(codeFailedAuthentication, "the Kerberos authenticator was made at %s, %s away from the server's clock (skew %s)", wss.FormatTime(ctime), d.Round(time.Second), skew)
	}
	if auth.Cksum.CksumType != chksumtype.GSSAPI {
		return reject(codeInvalidSecurityToken, "the Kerberos authenticator has checksum type %d, not the GSS-API checksum", auth.Cksum.CksumType)
	}
	if c := auth.Cksum.Checksum; len(c) < 24 || binary.LittleEndian.Uint32(c) != 16 {
		return reject(codeInvalidSecurityToken, "the Kerberos authenticator's GSS-API checksum is malformed")
	}
	if sk := auth.SubKey; len(sk.KeyValue) > 0 {
		if et, err := crypto.GetEtype(sk.KeyType); err != nil || len(sk.KeyValue) != et.GetKeyByteSize() {
			return reject(codeInvalidSecurityToken, "the Kerberos authenticator's subkey of type %d is not usable", sk.KeyType)
		}
	}
	return nil
}

// replayKey identifies an authenticator (RFC 4120 §3.2.3: client, time and
// microseconds).
type replayKey struct {
	client string
	ctime  int64
	cusec  int
}

// replayCache remembers accepted authenticators until they are older than
// the clock skew, when the skew check refuses them anyway.
type replayCache struct {
	mu        sync.Mutex
	seen      map[replayKey]time.Time // the authenticator's time
	max       int
	lastPrune time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[replayKey]time.Time{}, max: max}
}

// add records k at now, or refuses it as a replay, or as over the bound.
func (c *replayCache) add(k replayKey, now time.Time, skew time.Duration) *rejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[k]; dup {
		return reject(codeFailedAuthentication, "the Kerberos authenticator of %s was already used: replay refused", k.client)
	}
	if len(c.seen) >= c.max || now.Sub(c.lastPrune) > time.Second {
		c.prune(now, skew)
	}
	if len(c.seen) >= c.max {
		return rejectClass(soap.Receiver, http.StatusServiceUnavailable, "too many Kerberos authentications within the clock skew (%d); try again later", c.max)
	}
	c.seen[k] = time.Unix(k.ctime, int64(k.cusec)*1000)
	return nil
}

// prune forgets authenticators made more than skew before now.
func (c *replayCache) prune(now time.Time, skew time.Duration) {
	c.lastPrune = now
	for k, t := range c.seen {
		if now.Sub(t) > skew {
			delete(c.seen, k)
		}
	}
}
