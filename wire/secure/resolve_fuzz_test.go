package secure

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzContextResolver resolves the key of every KeyInfo in an arbitrary
// document against the root as the Security header, in both
// WS-SecureConversation versions, with one context known. Whatever the
// input, the resolver returns; it returns a key exactly when it returns
// no error; a key comes only from the known context (the resolver asked
// for it); and an unknown context's error reaches the caller, so a
// server can answer it as BadContextToken. Seeds (an SCT by wsu:Id, a
// DerivedKeyToken over it, the bare Identifier, in each version) are in
// testdata/fuzz/FuzzContextResolver.
func FuzzContextResolver(f *testing.F) {
	const known = "urn:uuid:known"
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
			var asked []string
			keysFor := func(id string) ([]byte, error) {
				asked = append(asked, id)
				if id == known {
					return key, nil
				}
				return nil, errUnknown
			}
			resolve := ContextResolver(d.Root(), v, keysFor)
			for _, ki := range keyInfos {
				for _, m := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
					asked = asked[:0]
					k, err := resolve(ki, m)
					switch {
					case (k == nil) == (err == nil):
						t.Fatalf("resolver returned key %v and error %v", k, err)
					case k != nil && !slices.Contains(asked, known):
						t.Fatalf("a key resolved without the known context (asked for %q)", asked)
					case errors.Is(err, errUnknown) && !slices.ContainsFunc(asked, func(id string) bool { return id != known }):
						t.Fatalf("unknown-context error %v, but only %q were asked for", err, asked)
					}
				}
			}
		}
	})
}
