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
)

// Proof is the key material an issuer chose for a reply: the key itself,
// how the reply conveys it, and the server entropy when the key is
// computed (WS-Trust 1.3 §4.4.3 and §4.4.4).
type Proof struct {
	Kind          ProofKind
	Key           []byte
	ServerEntropy []byte // ComputedKey only
}

// ErrNoClientEntropy is returned by NewProof when the mode needs the
// requestor's entropy and the request carried none.
var ErrNoClientEntropy = errors.New("wssc: the request carries no client entropy")

// NewProof decides the key of a reply to req, issuer side:
//   - CombinedEntropy: server entropy of the key's size is read from rand
//     and the key is P_SHA1(client entropy, server entropy), as WCF
//     computes it; the reply says ComputedKey;
//   - ClientEntropy: the client's entropy is the key; the reply carries no
//     proof token and no entropy;
//   - ServerEntropy: a key of the requested size is read from rand and
//     returned in a BinarySecret proof token; client entropy, if any, is
//     not used (the requestor then takes the key from the proof token).
//
// The key size is the request's KeySize, else DefaultKeySize; in
// ClientEntropy mode it is the size of the entropy.
func NewProof(req *Request, mode EntropyMode, rand io.Reader) (*Proof, error) {
	bits := req.KeySize
	if bits == 0 {
		bits = DefaultKeySize
	}
	if mode != ServerEntropy && req.ClientEntropy == nil {
		return nil, fmt.Errorf("%w (%s entropy mode)", ErrNoClientEntropy, mode)
	}
	switch mode {
	case ClientEntropy:
		return &Proof{Kind: NoProof, Key: append([]byte(nil), req.ClientEntropy...)}, nil
	case CombinedEntropy, ServerEntropy:
	default:
		return nil, fmt.Errorf("wssc: unknown entropy mode %d", int(mode))
	}
	if rand == nil {
		return nil, errors.New("wssc: no randomness source for the issuer's key material")
	}
	secret := make([]byte, bits/8)
	if _, err := io.ReadFull(rand, secret); err != nil {
		return nil, fmt.Errorf("wssc: issuer key material: %w", err)
	}
	if mode == ServerEntropy {
		return &Proof{Kind: BinarySecretProof, Key: secret}, nil
	}
	key, err := keys.Combined(req.ClientEntropy, secret, bits)
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	return &Proof{Kind: ComputedKey, Key: key, ServerEntropy: secret}, nil
}

// Token is a security context token as its issuer writes it
// (WS-SecureConversation 1.3 §3).
type Token struct {
	// ID is the token's wsu:Id, the target of the attached reference; WCF
	// writes "uuid-<guid>-<n>". Empty leaves out both.
	ID         string
	Identifier string
	// Instance is the key instance, given on renewal in 1.3; "" for none.
	Instance string
	// Cookie, when set, is written as a WCF dnse:Cookie: the issuer's
	// sealed session state, which lets a stateless server accept the token.
	Cookie []byte
}

// Grant is the content of an Issue or Renew reply.
type Grant struct {
	Version Version
	Token   Token
	Proof   *Proof
	// EntropyID is the wsu:Id of the server entropy's BinarySecret (WCF
	// writes one); empty writes none.
	EntropyID string
	Lifetime  Lifetime
	// KeySize in bits; 0 writes the size of Proof.Key.
	KeySize int
}

// BuildResponse writes the reply to an Issue or Renew request the way WCF
// does: in February 2005 a RequestSecurityTokenResponse, in 1.3 a
// RequestSecurityTokenResponseCollection holding one. The RSTR lists, in
// WCF's order, TokenType, RequestedSecurityToken, the attached reference
// (by wsu:Id) and the unattached one (by Identifier, with the Instance
// attribute once there is one), RequestedProofToken, Entropy, Lifetime and
// KeySize; the wsu namespace is declared on the RSTR, as WCF declares it.
func BuildResponse(g Grant) (*etree.Element, error) {
	v := g.Version
	switch {
	case !v.valid():
		return nil, errors.New("wssc: no version")
	case g.Token.Identifier == "":
		return nil, errors.New("wssc: the token has no Identifier")
	case g.Proof == nil || len(g.Proof.Key) == 0:
		return nil, errors.New("wssc: no proof key")
	case g.Proof.Kind == ComputedKey && len(g.Proof.ServerEntropy) == 0:
		return nil, errors.New("wssc: a computed key needs server entropy")
	}
	bits := g.KeySize
	if bits == 0 {
		bits = len(g.Proof.Key) * 8
	}
	if err := keys.CheckKeyBits(bits); err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	outer, rstr := v.responseRoot()
	v.trustChild(rstr, "TokenType", v.TokenType())
	v.trustChild(rstr, "RequestedSecurityToken", "").AddChild(v.tokenElement(g.Token))
	if g.Token.ID != "" {
		v.trustChild(rstr, "RequestedAttachedReference", "").AddChild(v.attachedSTR(g.Token.ID))
	}
	ref := ContextRef{Identifier: g.Token.Identifier, Instance: g.Token.Instance}
	v.trustChild(rstr, "RequestedUnattachedReference", "").AddChild(v.ContextSTR(ref))
	v.addProof(rstr, g)
	v.addLifetime(rstr, g.Lifetime)
	v.trustChild(rstr, "KeySize", strconv.Itoa(bits))
	return outer, nil
}

// BuildCancelResponse writes the reply to a Cancel request: an RSTR holding
// RequestedTokenCancelled (WS-Trust 1.3 §6), in both versions.
func BuildCancelResponse(v Version) (*etree.Element, error) {
	if !v.valid() {
		return nil, errors.New("wssc: no version")
	}
	rstr := v.newTrust("RequestSecurityTokenResponse")
	v.trustChild(rstr, "RequestedTokenCancelled", "")
	return rstr, nil
}

// responseRoot returns the Body payload of an Issue or Renew reply and the
// RSTR inside it (the same element in February 2005).
func (v Version) responseRoot() (outer, rstr *etree.Element) {
	if v.trust == V1_3.trust {
		outer = v.newTrust("RequestSecurityTokenResponseCollection")
		rstr = v.trustChild(outer, "RequestSecurityTokenResponse", "")
	} else {
		outer = v.newTrust("RequestSecurityTokenResponse")
		rstr = outer
	}
	rstr.CreateAttr("xmlns:"+wss.PrefixWSU, wss.NSWSU)
	return outer, rstr
}

// tokenElement writes the SCT: Identifier, then Instance and Cookie when
// present. Its wsu prefix is the one the RSTR declares.
func (v Version) tokenElement(t Token) *etree.Element {
	el := etree.NewElement(v.scPrefix + ":SecurityContextToken")
	if t.ID != "" {
		el.CreateAttr(wss.PrefixWSU+":Id", t.ID)
	}
	el.CreateAttr("xmlns:"+v.scPrefix, v.sc)
	v.scChild(el, "Identifier", t.Identifier)
	if t.Instance != "" {
		v.scChild(el, "Instance", t.Instance)
	}
	if t.Cookie != nil {
		c := el.CreateElement("dnse:Cookie")
		c.CreateAttr("xmlns:dnse", NSDotNetSecurity)
		c.SetText(base64.StdEncoding.EncodeToString(t.Cookie))
	}
	return el
}

// attachedSTR references the token inside the message by wsu:Id, with the
// SCT ValueType, attributes in WCF's order.
func (v Version) attachedSTR(id string) *etree.Element {
	str := etree.NewElement(wss.PrefixWSSE + ":SecurityTokenReference")
	str.CreateAttr("xmlns:"+wss.PrefixWSSE, wss.NSWSSE)
	r := str.CreateElement(wss.PrefixWSSE + ":Reference")
	r.CreateAttr("ValueType", v.TokenType())
	r.CreateAttr("URI", "#"+id)
	return str
}

func (v Version) addProof(rstr *etree.Element, g Grant) {
	switch g.Proof.Kind {
	case ComputedKey:
		v.trustChild(v.trustChild(rstr, "RequestedProofToken", ""), "ComputedKey", v.ComputedKeyPSHA1())
		bs := v.trustChild(v.trustChild(rstr, "Entropy", ""), "BinarySecret", base64.StdEncoding.EncodeToString(g.Proof.ServerEntropy))
		if g.EntropyID != "" {
			bs.CreateAttr(wss.PrefixWSU+":Id", g.EntropyID)
		}
		bs.CreateAttr("Type", v.NonceType())
	case BinarySecretProof:
		bs := v.trustChild(v.trustChild(rstr, "RequestedProofToken", ""), "BinarySecret", base64.StdEncoding.EncodeToString(g.Proof.Key))
		bs.CreateAttr("Type", v.SymmetricKeyType())
	}
}

// addLifetime writes Lifetime with the bounds that are set; none, nothing.
func (v Version) addLifetime(rstr *etree.Element, lt Lifetime) {
	if lt.Created.IsZero() && lt.Expires.IsZero() {
		return
	}
	el := v.trustChild(rstr, "Lifetime", "")
	if !lt.Created.IsZero() {
		el.CreateElement(wss.PrefixWSU + ":Created").SetText(wss.FormatTime(lt.Created))
	}
	if !lt.Expires.IsZero() {
		el.CreateElement(wss.PrefixWSU + ":Expires").SetText(wss.FormatTime(lt.Expires))
	}
}
