package msgsec

import (
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
)

// contextEndorser is the key of an endorsing security context and the
// KeyInfo content that names it.
type contextEndorser struct {
	key dsig.SigningKey
	ref func() *etree.Element
}

// addContextEndorser places the endorsing context's SCT, exactly as
// issued, and, with derived keys, a DerivedKeyToken of the signature
// length on it (WS-SecurityPolicy 1.2 §8.3 with a SecureConversationToken,
// RequireDerivedKeys), and keeps the key that signs the endorsement.
func (b *builder) addContextEndorser(c Context) error {
	c.Include = true
	t, err := b.context(c)
	if err != nil {
		return fmt.Errorf("msgsec: endorsing %w", err)
	}
	key, ref := t.key, func() *etree.Element { return strElement(t.base) }
	if b.c.DerivedKeys {
		if key, ref, err = b.derive(t, b.c.Suite.SignatureKeyLength); err != nil {
			return err
		}
	}
	sk, err := dsig.HMACKey(b.c.SignatureMethod, key)
	if err != nil {
		return err
	}
	b.ctxEndorser = &contextEndorser{key: sk, ref: ref}
	return nil
}

// endorseWithContext gives the primary signature an Id and signs it with
// the endorsing context's key: the endorsing Signature follows the
// primary one.
func (b *builder) endorseWithContext(primary *etree.Element) (*etree.Element, error) {
	primary.CreateAttr("Id", b.ids.next())
	return b.signWith(b.ctxEndorser.key, b.ctxEndorser.ref(), []dsig.Reference{{Element: primary}})
}
