package wssc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DefaultKeySize is the key size, in bits, requested when none is set and
// assumed when a response states none: the default of WCF's algorithm
// suites (Basic256) and of WWSAPI.
const DefaultKeySize = 256

// EntropyMode says who contributes the key material (WS-Trust 1.3 §4.4).
type EntropyMode int

const (
	// CombinedEntropy: both sides send entropy and the key is P_SHA1 of the
	// two. The default of WCF and WWSAPI.
	CombinedEntropy EntropyMode = iota
	// ClientEntropy: the client's entropy is the key.
	ClientEntropy
	// ServerEntropy: the server returns the key; the client sends none.
	ServerEntropy
)

func (m EntropyMode) String() string {
	switch m {
	case CombinedEntropy:
		return "combined"
	case ClientEntropy:
		return "client"
	case ServerEntropy:
		return "server"
	}
	return fmt.Sprintf("EntropyMode(%d)", int(m))
}

// Params configures an Issue or Renew request.
type Params struct {
	Version Version
	Mode    EntropyMode
	// KeySize is the requested key size in bits; 0 means DefaultKeySize.
	KeySize int
	// EntropyID, when set, becomes the wsu:Id of the client BinarySecret,
	// as WCF writes one (a message-security bootstrap may encrypt it).
	EntropyID string
	// ComputedKeyAlgorithm adds <ComputedKeyAlgorithm>CK/PSHA1</...> in
	// combined mode. WS-Trust 1.3 §9.2 makes it optional, P_SHA1 being
	// the default. WCF (.NET Framework and dotnet/wcf alike) leaves it out of
	// SCT requests in both versions: its secure-conversation requestors put
	// TokenType, RequestType, Entropy, KeySize and RenewTarget in the RST and
	// nothing else; only its issued-token (federation) requestor adds
	// ComputedKeyAlgorithm. scproxy follows WCF and writes it only when asked.
	ComputedKeyAlgorithm bool
	// Rand supplies the client entropy (KeySize/8 bytes); unused in
	// ServerEntropy mode.
	Rand io.Reader
}

// RST is a built RequestSecurityToken body payload with the client entropy
// it carries, which the caller keeps to compute the key from the response.
type RST struct {
	Element       *etree.Element
	ClientEntropy []byte // nil when none was sent
	KeySize       int    // bits requested
}

// BuildIssue returns an Issue request for a security context token
// (WS-SecureConversation 1.3 §3, WS-Trust 1.3 §4.1).
func BuildIssue(p Params) (*RST, error) {
	return build(p, Issue, ContextRef{})
}

// ContextRef names a security context from outside the message, as a
// RenewTarget or CancelTarget does (WS-Trust 1.3 §5 and §6): by its
// Identifier and, once it has been renewed, by its key Instance. WCF keys a
// renewed context by both and finds it only when the reference carries the
// Instance, which it writes as an Instance attribute in the
// WS-SecureConversation namespace on the Reference (its SCT reference
// serializer does so in both versions).
type ContextRef struct {
	Identifier string
	Instance   string // "" before the first renewal
}

// Ref returns the reference to the context t belongs to.
func (t *SCT) Ref() ContextRef { return ContextRef{Identifier: t.Identifier, Instance: t.Instance} }

// BuildRenew returns a Renew request for the context target, with fresh
// entropy (WS-Trust 1.3 §5). The message must be endorsed with the current
// context key by the caller.
func BuildRenew(p Params, target ContextRef) (*RST, error) {
	if target.Identifier == "" {
		return nil, errors.New("wssc: renew needs the context identifier")
	}
	return build(p, Renew, target)
}

// BuildCancel returns a Cancel request for the context target (WS-Trust 1.3
// §6): RequestType and CancelTarget only, as WCF sends it.
func BuildCancel(v Version, target ContextRef) (*etree.Element, error) {
	if !v.valid() {
		return nil, errors.New("wssc: no version")
	}
	if target.Identifier == "" {
		return nil, errors.New("wssc: cancel needs the context identifier")
	}
	el := v.newTrust("RequestSecurityToken")
	v.trustChild(el, "RequestType", v.RequestType(Cancel))
	v.trustChild(el, "CancelTarget", "").AddChild(v.ContextSTR(target))
	return el, nil
}

// ContextSTR returns the SecurityTokenReference to a context by its
// Identifier, the unattached form used as RenewTarget and CancelTarget:
// <Reference URI="urn:uuid:..." ValueType="<sc>/sct"/>, plus the
// Instance attribute when ref has one.
func (v Version) ContextSTR(ref ContextRef) *etree.Element {
	str := wss.ReferenceSTR(wss.Reference{URI: ref.Identifier, ValueType: v.TokenType()})
	if ref.Instance != "" {
		r := str.ChildElements()[0]
		r.CreateAttr("xmlns:"+v.scPrefix, v.sc)
		r.CreateAttr(v.scPrefix+":Instance", ref.Instance)
	}
	return str
}

// ParseContextRef reads a reference to a context by Identifier, such as a
// RenewTarget's or an RSTR's RequestedUnattachedReference: a direct
// Reference whose URI is not local, with the Instance attribute of version
// v when present. The ValueType, when given, must be v's token type.
func (v Version) ParseContextRef(str *etree.Element) (ContextRef, error) {
	s, err := wss.ParseSTR(str)
	if err != nil {
		return ContextRef{}, fmt.Errorf("wssc: %w", err)
	}
	r := s.Reference
	switch {
	case r == nil:
		return ContextRef{}, errors.New("wssc: context reference is not a direct Reference")
	case r.Local():
		return ContextRef{}, fmt.Errorf("wssc: context reference %q points into the message, expected an Identifier", r.URI)
	case r.ValueType != "" && r.ValueType != v.TokenType():
		return ContextRef{}, fmt.Errorf("wssc: context reference ValueType %q is not %q", r.ValueType, v.TokenType())
	}
	ref := ContextRef{Identifier: r.URI}
	ref.Instance, _ = xmldoc.Attr(str.ChildElements()[0], v.sname("Instance"))
	return ref, nil
}

// build writes, in the order of WCF's RST writer, TokenType, RequestType,
// Entropy, KeySize, RenewTarget and, when asked for, ComputedKeyAlgorithm
// (which WCF writes among the extra request properties, after the targets).
func build(p Params, op Operation, target ContextRef) (*RST, error) {
	if !p.Version.valid() {
		return nil, errors.New("wssc: no version")
	}
	bits := p.KeySize
	if bits == 0 {
		bits = DefaultKeySize
	}
	if err := keys.CheckKeyBits(bits); err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	v := p.Version
	r := &RST{Element: v.newTrust("RequestSecurityToken"), KeySize: bits}
	v.trustChild(r.Element, "TokenType", v.TokenType())
	v.trustChild(r.Element, "RequestType", v.RequestType(op))
	if err := r.addEntropy(p, bits); err != nil {
		return nil, err
	}
	v.trustChild(r.Element, "KeySize", strconv.Itoa(bits))
	if op == Renew {
		v.trustChild(r.Element, "RenewTarget", "").AddChild(v.ContextSTR(target))
	}
	if p.ComputedKeyAlgorithm && p.Mode == CombinedEntropy {
		v.trustChild(r.Element, "ComputedKeyAlgorithm", v.ComputedKeyPSHA1())
	}
	return r, nil
}

func (r *RST) addEntropy(p Params, bits int) error {
	switch p.Mode {
	case ServerEntropy:
		return nil
	case CombinedEntropy, ClientEntropy:
	default:
		return fmt.Errorf("wssc: unknown entropy mode %d", int(p.Mode))
	}
	if p.Rand == nil {
		return errors.New("wssc: no randomness source for client entropy")
	}
	r.ClientEntropy = make([]byte, bits/8)
	if _, err := io.ReadFull(p.Rand, r.ClientEntropy); err != nil {
		return fmt.Errorf("wssc: client entropy: %w", err)
	}
	v := p.Version
	bs := v.trustChild(v.trustChild(r.Element, "Entropy", ""), "BinarySecret", base64.StdEncoding.EncodeToString(r.ClientEntropy))
	if p.EntropyID != "" {
		wss.SetID(bs, p.EntropyID)
	}
	bs.CreateAttr("Type", v.NonceType())
	return nil
}

// newTrust returns a detached WS-Trust element declaring the trust prefix.
func (v Version) newTrust(local string) *etree.Element {
	el := etree.NewElement(v.trustPrefix + ":" + local)
	el.CreateAttr("xmlns:"+v.trustPrefix, v.trust)
	return el
}

// trustChild appends a WS-Trust child element with optional text.
func (v Version) trustChild(parent *etree.Element, local, text string) *etree.Element {
	c := parent.CreateElement(v.trustPrefix + ":" + local)
	if text != "" {
		c.SetText(text)
	}
	return c
}
