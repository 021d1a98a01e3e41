package wss

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzParseParts runs every parser of this package on an arbitrary input:
// as a raw GSS-API token (UnwrapGSSKerberosAPREQ), and as a document whose
// every element goes to each element parser. None may panic; what parses
// must survive a write-and-read round trip with the same meaning, and a
// GSS token is accepted only in its one DER encoding. Seeds are in
// testdata/fuzz/FuzzParseParts: real messages, and Kerberos AP-REQs built
// for the purpose (a made-up service key, no KDC) raw and in a
// BinarySecurityToken.
func FuzzParseParts(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		checkGSSToken(t, src)
		d, err := xmldoc.Parse(src, xmldoc.Options{})
		if err != nil {
			return
		}
		xmldoc.Walk(d.Root(), func(el *etree.Element) {
			ID(el)
			_, _ = FindSecurity(el)
			_, _ = ParseX509Token(el)
			if ts, err := ParseTimestamp(el); err == nil {
				_ = ts.Validate(ts.Created, 0)
				roundTrip(t, ts.Element(), func(e *etree.Element) bool {
					back, err := ParseTimestamp(e)
					return err == nil && back.Created.Equal(ts.Created.Truncate(time.Millisecond)) && back.ID == ts.ID
				})
			}
			if u, err := ParseUsernameToken(el); err == nil {
				checkUsernameToken(t, u)
			}
			if s, err := ParseSTR(el); err == nil && s.Reference != nil {
				roundTrip(t, ReferenceSTR(*s.Reference), func(e *etree.Element) bool {
					back, err := ParseSTR(e)
					return err == nil && back.Reference != nil && *back.Reference == *s.Reference
				})
			}
			checkKerberosToken(t, el)
		})
	})
}

// checkUsernameToken: a text password verifies as itself and no other
// (ErrBadPassword), no way of printing the token shows the password, and
// Element writes a token that reads back the same.
func checkUsernameToken(t *testing.T, u *UsernameToken) {
	t.Helper()
	if u.PasswordType == PasswordText && (u.Verify(u.Password) != nil || !errors.Is(u.Verify(u.Password+"x"), ErrBadPassword)) {
		t.Fatalf("a text password does not verify as itself alone")
	}
	redacted := *u
	redacted.Password = ""
	without := fmt.Sprintf("%v %+v %#v %s", redacted, &redacted, redacted, redacted.String())
	with := fmt.Sprintf("%v %+v %#v %s", *u, u, *u, u.String())
	if u.Password != "" && strings.Contains(with, u.Password) && !strings.Contains(without, u.Password) {
		t.Fatalf("the password is printed: %s", with)
	}
	roundTrip(t, u.Element(), func(e *etree.Element) bool {
		back, err := ParseUsernameToken(e)
		return err == nil && back.ID == u.ID && back.Username == u.Username && back.PasswordType == u.PasswordType &&
			back.Password == u.Password && bytes.Equal(back.Nonce, u.Nonce) && back.Created == u.Created
	})
}

// checkGSSToken: a token UnwrapGSSKerberosAPREQ accepts is within the size
// bound, holds an AP-REQ that ends it, and is exactly what
// WrapGSSKerberosAPREQ makes of that AP-REQ (strict DER leaves one
// encoding).
func checkGSSToken(t *testing.T, tok []byte) {
	t.Helper()
	apreq, err := UnwrapGSSKerberosAPREQ(tok)
	if err != nil {
		if apreq != nil {
			t.Fatalf("an AP-REQ of %d bytes returned with the error %v", len(apreq), err)
		}
		return
	}
	if len(tok) > maxGSSToken {
		t.Fatalf("a token of %d bytes accepted, over the bound of %d", len(tok), maxGSSToken)
	}
	if len(apreq) < 2 || apreq[0] != tagAPREQ || !bytes.HasSuffix(tok, apreq) {
		t.Fatalf("accepted AP-REQ % x is not the tail of the token", apreq[:min(len(apreq), 8)])
	}
	if again := WrapGSSKerberosAPREQ(apreq); !bytes.Equal(again, tok) {
		t.Fatalf("accepted token % x is not the DER encoding % x of its AP-REQ", tok[:min(len(tok), 24)], again[:min(len(again), 24)])
	}
}

// checkKerberosToken: ParseKerberosToken accepts only Kerberos tokens, and
// what it reads is written by KerberosToken into a token that reads the
// same.
func checkKerberosToken(t *testing.T, el *etree.Element) {
	t.Helper()
	der, err := ParseKerberosToken(el)
	if err != nil {
		return
	}
	if !IsKerberosToken(el) {
		t.Fatalf("%s read as a Kerberos token", xmldoc.NameOf(el))
	}
	checkGSSToken(t, WrapGSSKerberosAPREQ(der))
	roundTrip(t, KerberosToken("krb", WrapGSSKerberosAPREQ(der)), func(e *etree.Element) bool {
		back, err := ParseKerberosToken(e)
		return err == nil && bytes.Equal(back, der)
	})
}

func roundTrip(t *testing.T, el *etree.Element, same func(*etree.Element) bool) {
	t.Helper()
	out := xmldoc.Serialize(el)
	d, err := xmldoc.Parse(out, xmldoc.Options{})
	if err != nil {
		t.Fatalf("built element does not parse: %v\n%s", err, out)
	}
	if !same(d.Root()) {
		t.Fatalf("round trip changed the meaning: %s", out)
	}
}
