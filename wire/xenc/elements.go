package xenc

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Names of the XML Encryption elements this package reads and writes.
var (
	NameEncryptedData    = xmldoc.Name{Space: NS, Local: "EncryptedData"}
	NameEncryptedKey     = xmldoc.Name{Space: NS, Local: "EncryptedKey"}
	NameReferenceList    = xmldoc.Name{Space: NS, Local: "ReferenceList"}
	NameDataReference    = xmldoc.Name{Space: NS, Local: "DataReference"}
	NameEncryptionMethod = xmldoc.Name{Space: NS, Local: "EncryptionMethod"}
	NameCipherData       = xmldoc.Name{Space: NS, Local: "CipherData"}
	NameCipherValue      = xmldoc.Name{Space: NS, Local: "CipherValue"}
)

var (
	nameKeyInfo      = xmldoc.Name{Space: dsig.NS, Local: "KeyInfo"}
	nameDigestMethod = xmldoc.Name{Space: dsig.NS, Local: "DigestMethod"}
	attrAlgorithm    = xmldoc.Name{Local: "Algorithm"}
	attrID           = xmldoc.Name{Local: "Id"}
	attrType         = xmldoc.Name{Local: "Type"}
	attrURI          = xmldoc.Name{Local: "URI"}
)

// Prefix is the prefix EncryptedKey is written with (WCF's); EncryptedData
// and ReferenceList declare the namespace as their default, as WCF does.
const Prefix = "e"

// EncryptedData is an xenc:EncryptedData (XML Encryption 1.0 §3.4).
type EncryptedData struct {
	ID   string
	Type string // TypeElement or TypeContent
	// Method is the block encryption algorithm URI.
	Method string
	// KeyInfo is the one child of ds:KeyInfo, usually a
	// wsse:SecurityTokenReference; nil when there is no KeyInfo.
	KeyInfo *etree.Element
	// CipherValue is the IV followed by the ciphertext.
	CipherValue []byte
}

// Element builds the EncryptedData in WCF's shape: the XML Encryption
// namespace as default, then EncryptionMethod, KeyInfo and CipherData.
// KeyInfo is placed, not copied.
func (d *EncryptedData) Element() *etree.Element {
	el := etree.NewElement("EncryptedData")
	if d.ID != "" {
		el.CreateAttr("Id", d.ID)
	}
	if d.Type != "" {
		el.CreateAttr("Type", d.Type)
	}
	el.CreateAttr("xmlns", NS)
	el.CreateElement("EncryptionMethod").CreateAttr("Algorithm", d.Method)
	addKeyInfo(el, d.KeyInfo)
	el.CreateElement("CipherData").CreateElement("CipherValue").SetText(base64.StdEncoding.EncodeToString(d.CipherValue))
	return el
}

// Decrypt returns the plaintext octets, or ErrDecrypt.
func (d *EncryptedData) Decrypt(key []byte) ([]byte, error) {
	return Decrypt(d.Method, key, d.CipherValue)
}

// ParseEncryptedData reads an EncryptedData strictly: an EncryptionMethod
// naming a block algorithm this package implements (no parameters), at
// most one KeyInfo holding one element, and one CipherData holding one
// CipherValue. A CipherValue that is not base64 is ErrDecrypt, like every
// other reason the data cannot be decrypted.
func ParseEncryptedData(el *etree.Element) (*EncryptedData, error) {
	if !xmldoc.Is(el, NameEncryptedData) {
		return nil, fmt.Errorf("xenc: expected %s, got %s", NameEncryptedData, xmldoc.NameOf(el))
	}
	if err := onlyChildren(el, NameEncryptionMethod, nameKeyInfo, NameCipherData); err != nil {
		return nil, err
	}
	d := &EncryptedData{}
	d.ID, _ = xmldoc.Attr(el, attrID)
	d.Type, _ = xmldoc.Attr(el, attrType)
	if d.Type != "" && d.Type != TypeElement && d.Type != TypeContent {
		return nil, fmt.Errorf("xenc: EncryptedData Type %q is not allowed", d.Type)
	}
	em, err := xmldoc.One(el, NameEncryptionMethod)
	if err != nil {
		return nil, fmt.Errorf("xenc: %w", err)
	}
	d.Method, _ = xmldoc.Attr(em, attrAlgorithm)
	if _, err := KeySize(d.Method); err != nil {
		return nil, err
	}
	if len(em.ChildElements()) != 0 {
		return nil, errors.New("xenc: block encryption takes no parameters")
	}
	if d.KeyInfo, err = keyInfo(el); err != nil {
		return nil, err
	}
	if d.CipherValue, err = cipherValue(el); err != nil {
		return nil, err
	}
	return d, nil
}

// EncryptedKey is an xenc:EncryptedKey (XML Encryption 1.0 §3.5.1).
type EncryptedKey struct {
	ID string
	// Method is the key transport algorithm URI; RSAOAEPMGF1P carries a
	// SHA-1 DigestMethod, written and accepted.
	Method      string
	KeyInfo     *etree.Element
	CipherValue []byte
	// References are the Ids (without "#") of the DataReferences of a
	// ReferenceList inside the EncryptedKey, the form WSS4J writes when
	// no derived keys are used; nil writes none.
	References []string
}

// Element builds the EncryptedKey in WCF's shape (prefix "e").
func (k *EncryptedKey) Element() *etree.Element {
	el := etree.NewElement(Prefix + ":EncryptedKey")
	if k.ID != "" {
		el.CreateAttr("Id", k.ID)
	}
	el.CreateAttr("xmlns:"+Prefix, NS)
	em := el.CreateElement(Prefix + ":EncryptionMethod")
	em.CreateAttr("Algorithm", k.Method)
	if k.Method == RSAOAEPMGF1P {
		dm := em.CreateElement("DigestMethod")
		dm.CreateAttr("Algorithm", dsig.SHA1)
		dm.CreateAttr("xmlns", dsig.NS)
	}
	addKeyInfo(el, k.KeyInfo)
	el.CreateElement(Prefix + ":CipherData").CreateElement(Prefix + ":CipherValue").SetText(base64.StdEncoding.EncodeToString(k.CipherValue))
	if len(k.References) > 0 {
		el.AddChild(ReferenceList(k.References...))
	}
	return el
}

// ParseEncryptedKey reads an EncryptedKey strictly: a key transport this
// package implements (RSAOAEPMGF1P with no parameter but a SHA-1
// DigestMethod, or RSA15 with none), one KeyInfo holding one element, one
// CipherValue, and an optional ReferenceList. A CipherValue that is not
// base64 is ErrDecrypt.
func ParseEncryptedKey(el *etree.Element) (*EncryptedKey, error) {
	if !xmldoc.Is(el, NameEncryptedKey) {
		return nil, fmt.Errorf("xenc: expected %s, got %s", NameEncryptedKey, xmldoc.NameOf(el))
	}
	if err := onlyChildren(el, NameEncryptionMethod, nameKeyInfo, NameCipherData, NameReferenceList); err != nil {
		return nil, err
	}
	k := &EncryptedKey{}
	k.ID, _ = xmldoc.Attr(el, attrID)
	em, err := xmldoc.One(el, NameEncryptionMethod)
	if err != nil {
		return nil, fmt.Errorf("xenc: %w", err)
	}
	if k.Method, err = keyTransport(em); err != nil {
		return nil, err
	}
	if k.KeyInfo, err = keyInfo(el); err != nil {
		return nil, err
	}
	if k.KeyInfo == nil {
		return nil, errors.New("xenc: EncryptedKey has no KeyInfo naming its recipient")
	}
	if k.CipherValue, err = cipherValue(el); err != nil {
		return nil, err
	}
	rl, err := xmldoc.Optional(el, NameReferenceList)
	if err != nil {
		return nil, fmt.Errorf("xenc: %w", err)
	}
	if rl != nil {
		if k.References, err = ParseReferenceList(rl); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Unwrap decrypts the key with dec, the recipient's key (see UnwrapKey
// for size and rand).
func (k *EncryptedKey) Unwrap(dec crypto.Decrypter, size int, rand io.Reader) ([]byte, error) {
	return UnwrapKey(k.Method, k.CipherValue, dec, size, rand)
}

func keyTransport(em *etree.Element) (string, error) {
	uri, _ := xmldoc.Attr(em, attrAlgorithm)
	kids := em.ChildElements()
	switch uri {
	case RSAOAEPMGF1P:
		for _, c := range kids {
			alg, _ := xmldoc.Attr(c, attrAlgorithm)
			if !xmldoc.Is(c, nameDigestMethod) || alg != dsig.SHA1 || len(kids) > 1 {
				return "", fmt.Errorf("xenc: EncryptionMethod parameter %s %q is not allowed", xmldoc.NameOf(c), alg)
			}
		}
	case RSA15:
		if len(kids) != 0 {
			return "", errors.New("xenc: RSA 1.5 key transport takes no parameters")
		}
	default:
		return "", &AlgorithmError{Kind: "key transport", URI: uri}
	}
	return uri, nil
}

// ReferenceList returns an xenc:ReferenceList with one DataReference per
// id (given without "#").
func ReferenceList(ids ...string) *etree.Element {
	el := etree.NewElement("ReferenceList")
	el.CreateAttr("xmlns", NS)
	for _, id := range ids {
		el.CreateElement("DataReference").CreateAttr("URI", "#"+id)
	}
	return el
}

// ParseReferenceList returns the Ids (without "#") a ReferenceList names.
// It must hold at least one DataReference and nothing else (KeyReference,
// which names keys rather than data, is refused); each URI must be a
// same-document reference, named once.
func ParseReferenceList(el *etree.Element) ([]string, error) {
	if !xmldoc.Is(el, NameReferenceList) {
		return nil, fmt.Errorf("xenc: expected %s, got %s", NameReferenceList, xmldoc.NameOf(el))
	}
	kids := el.ChildElements()
	if len(kids) == 0 {
		return nil, errors.New("xenc: empty ReferenceList")
	}
	ids := make([]string, 0, len(kids))
	seen := map[string]bool{}
	for _, c := range kids {
		if !xmldoc.Is(c, NameDataReference) {
			return nil, fmt.Errorf("xenc: %s is not allowed in a ReferenceList", xmldoc.NameOf(c))
		}
		uri, _ := xmldoc.Attr(c, attrURI)
		id, ok := strings.CutPrefix(uri, "#")
		if !ok || id == "" {
			return nil, fmt.Errorf("xenc: DataReference %q is not a same-document reference", uri)
		}
		if seen[id] {
			return nil, fmt.Errorf("xenc: DataReference %q named twice", uri)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

func addKeyInfo(parent, content *etree.Element) {
	if content == nil {
		return
	}
	ki := parent.CreateElement("KeyInfo")
	ki.CreateAttr("xmlns", dsig.NS)
	ki.AddChild(content)
}

// keyInfo returns the one element inside the optional ds:KeyInfo child.
func keyInfo(el *etree.Element) (*etree.Element, error) {
	ki, err := xmldoc.Optional(el, nameKeyInfo)
	if err != nil || ki == nil {
		return nil, wrap(err)
	}
	kids := ki.ChildElements()
	if len(kids) != 1 {
		return nil, fmt.Errorf("xenc: KeyInfo holds %d elements, expected 1", len(kids))
	}
	return kids[0], nil
}

func cipherValue(el *etree.Element) ([]byte, error) {
	cd, err := xmldoc.One(el, NameCipherData)
	if err != nil {
		return nil, wrap(err)
	}
	if err := onlyChildren(cd, NameCipherValue); err != nil {
		return nil, err
	}
	cv, err := xmldoc.One(cd, NameCipherValue)
	if err != nil {
		return nil, wrap(err)
	}
	b, err := wss.DecodeBase64(cv.Text())
	if err != nil || len(b) == 0 {
		return nil, ErrDecrypt
	}
	return b, nil
}

// onlyChildren refuses a child element other than those named.
func onlyChildren(el *etree.Element, allowed ...xmldoc.Name) error {
	for _, c := range el.ChildElements() {
		ok := false
		for _, n := range allowed {
			ok = ok || xmldoc.Is(c, n)
		}
		if !ok {
			return fmt.Errorf("xenc: %s is not allowed in %s", xmldoc.NameOf(c), xmldoc.NameOf(el))
		}
	}
	return nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("xenc: %w", err)
}
