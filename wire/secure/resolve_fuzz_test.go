package secure

import (
	"bytes"
	"errors"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzContextResolver resolves the key of every KeyInfo in an arbitrary
// document against the root as the Security header, in both
// WS-SecureConversation versions. Whatever the input, the resolver
// returns, and it returns a key exactly when it returns no error.
func FuzzContextResolver(f *testing.F) {
	const (
		o  = `xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"`
		u  = `xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"`
		ds = `<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">`
	)
	for _, sc := range []string{wssc.Feb2005.SC(), wssc.V1_3.SC()} {
		c := `xmlns:c="` + sc + `"`
		f.Add([]byte(`<o:Security ` + o + ` ` + u + ` ` + c + `><c:SecurityContextToken u:Id="sct"><c:Identifier>urn:uuid:known</c:Identifier></c:SecurityContextToken>` +
			ds + `<o:SecurityTokenReference><o:Reference URI="#sct"/></o:SecurityTokenReference></KeyInfo></o:Security>`))
		f.Add([]byte(`<o:Security ` + o + ` ` + u + ` ` + c + `><c:SecurityContextToken u:Id="sct"><c:Identifier>urn:uuid:known</c:Identifier></c:SecurityContextToken>` +
			`<c:DerivedKeyToken u:Id="dk"><o:SecurityTokenReference><o:Reference URI="#sct"/></o:SecurityTokenReference><c:Offset>0</c:Offset><c:Length>24</c:Length><c:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</c:Nonce></c:DerivedKeyToken>` +
			ds + `<o:SecurityTokenReference><o:Reference URI="#dk"/></o:SecurityTokenReference></KeyInfo></o:Security>`))
		f.Add([]byte(`<o:Security ` + o + `>` + ds + `<o:SecurityTokenReference><o:Reference URI="urn:uuid:known" ValueType="` + sc + `/sct"/></o:SecurityTokenReference></KeyInfo></o:Security>`))
	}
	errUnknown := errors.New("unknown context")
	key := bytes.Repeat([]byte{7}, 32)
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := xmldoc.Parse(src, xmldoc.Options{Limits: xmldoc.Limits{MaxBytes: 64 << 10, MaxElements: 2000}})
		if err != nil {
			return
		}
		var keyInfos []*etree.Element
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			if xmldoc.Is(el, xmldoc.Name{Space: dsig.NS, Local: "KeyInfo"}) {
				keyInfos = append(keyInfos, el)
			}
		})
		for _, v := range wssc.Versions {
			keysFor := func(id string) ([]byte, error) {
				if id == "urn:uuid:known" {
					return key, nil
				}
				return nil, errUnknown
			}
			resolve := ContextResolver(d.Root(), v, keysFor)
			for _, ki := range keyInfos {
				for _, m := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
					k, err := resolve(ki, m)
					if (k == nil) == (err == nil) {
						t.Fatalf("resolver returned key %v and error %v", k, err)
					}
				}
			}
		}
	})
}
