package msgsec

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// hostileTime is the longest a refusal may take, and 4× the message's
// size plus openSlack the most it may allocate (issue 16). openSlack is
// what opening costs whatever the size: the derived keys, the decrypted
// Signature parsed, the canonicalizer's buffers for the small signed
// headers.
const (
	hostileTime = 10 * time.Millisecond
	openSlack   = 64 << 10
)

// fixture is a request a client sent and the service's genuine answer.
type fixture struct {
	client *Profile
	sent   *Sent
	resp   []byte
}

// newFixture protects a request under order, has the service open it and
// answer it (with SignatureConfirmation when confirm).
func newFixture(t testing.TB, order Order, confirm bool, seed string) fixture {
	t.Helper()
	cc, sc := config(Client, Basic256, order, true), config(Server, Basic256, order, true)
	cc.Rand, sc.Rand = testkit.Rand(seed+" client"), testkit.Rand(seed+" server")
	cc.SignatureConfirmation, sc.SignatureConfirmation = confirm, confirm
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	sent, err := client.Protect(request(t, soap.V12, payload(400), testkit.Rand(seed)), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: contextKey, Include: true}}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := server.Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(contextKey)})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(400)), Outgoing{Token: in.Reply, Confirm: in.SignatureValues})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{client: client, sent: sent, resp: ans.Bytes}
}

// open opens resp as the fixture's client would, measuring the time and
// the bytes allocated.
func (f fixture) open(t *testing.T, resp []byte, exp Expect) error {
	t.Helper()
	env := parse(t, resp)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := f.client.Open(env, exp)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	testkit.Budget(t, "time to refuse", took, hostileTime)
	testkit.Budget(t, "bytes allocated", int64(after.TotalAlloc-before.TotalAlloc), int64(4*len(resp)+openSlack))
	return err
}

func (f fixture) expect() Expect { return Expect{Request: f.sent, ContextKeys: keysOf(contextKey)} }

// edit parses msg, lets fn change the tree and serializes it again.
func edit(t *testing.T, msg []byte, fn func(env *soap.Envelope, sec *etree.Element)) []byte {
	t.Helper()
	env := parse(t, msg)
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	fn(env, sec)
	return xmldoc.Serialize(env.Root)
}

// resign recomputes the SignatureValue of the clear Signature in sec with
// key, after a change to SignedInfo: what an attacker holding the key
// could do, to test the checks that do not depend on the HMAC.
func resign(t *testing.T, sec *etree.Element, key []byte) {
	t.Helper()
	sig := sec.FindElement("Signature")
	si := sig.FindElement("SignedInfo")
	canon, err := c14n.Exclusive(si, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha1.New, key)
	m.Write(canon)
	sig.FindElement("SignatureValue").SetText(base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// dropReference removes the Reference to el from the clear Signature.
func dropReference(t *testing.T, sec, el *etree.Element) {
	t.Helper()
	id, _ := wss.ID(el)
	si := sec.FindElement("Signature").FindElement("SignedInfo")
	for _, r := range si.SelectElements("Reference") {
		if r.SelectAttrValue("URI", "") == "#"+id {
			si.RemoveChild(r)
			return
		}
	}
	t.Fatalf("no reference to %s", el.Tag)
}

func TestHostileResponses(t *testing.T) {
	signFirst := newFixture(t, SignBeforeEncrypt, false, "a")
	sigKey, _ := messageKeys(t, signFirst.resp, contextKey, true)
	encSig := newFixture(t, SignBeforeEncryptAndEncryptSignature, false, "b")
	confirmed := newFixture(t, SignBeforeEncryptAndEncryptSignature, true, "c")
	other := newFixture(t, SignBeforeEncrypt, false, "d")
	encFirst := newFixture(t, EncryptBeforeSign, false, "e")
	encFirstKey, _ := messageKeys(t, encFirst.resp, contextKey, true)
	cases := []struct {
		name string
		f    fixture
		msg  func(t *testing.T) []byte
		exp  func(f fixture) Expect
		is   error  // the error must wrap this, when set
		says string // and say this
	}{
		{name: "body moved to a header (wrapping)", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				w := env.Header.CreateElement("Wrapper")
				env.Root.RemoveChild(env.Body)
				w.AddChild(env.Body)
				nb := env.Root.CreateElement(env.Body.Space + ":Body")
				nb.CreateElement("Evil").SetText("pay the attacker")
			})
		}, says: "does not name an encrypted header or Body content"},
		{name: "encrypted body duplicated in the Body", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				env.Body.AddChild(env.Body.ChildElements()[0].Copy())
			})
		}, says: "resolves to 2 elements"},
		{name: "body unsigned", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				dropReference(t, sec, env.Body)
				resign(t, sec, sigKey)
			})
		}, says: "Body is not covered"},
		{name: "body partly signed (its EncryptedData, not the Body)", f: encFirst, msg: func(t *testing.T) []byte {
			return edit(t, encFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				ed := env.Body.ChildElements()[0]
				pointReference(t, sec, env.Body, ed)
				resign(t, sec, encFirstKey)
			})
		}, says: "Body is not covered"},
		{name: "body in clear, signed elsewhere", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				ed := env.Body.ChildElements()[0]
				env.Body.RemoveChild(ed)
				env.Body.CreateElement("Evil")
				sec.AddChild(ed)
			})
		}, says: "Body is not encrypted"},
		{name: "Timestamp unsigned", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				dropReference(t, sec, sec.FindElement("Timestamp"))
				resign(t, sec, sigKey)
			})
		}, says: "Timestamp is not covered"},
		{name: "Action unsigned", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				dropReference(t, sec, env.Header.FindElement("Action"))
				resign(t, sec, sigKey)
			})
		}, says: "Action is not covered"},
		{name: "Timestamp stale", f: signFirst, msg: func(t *testing.T) []byte { return signFirst.resp }, exp: func(f fixture) Expect {
			return f.expect()
		}, says: "Timestamp"},
		{name: "foreign context key", f: encSig, exp: func(f fixture) Expect {
			e := f.expect()
			e.ContextKeys = keysOf(bytes.Repeat([]byte{1}, 32))
			return e
		}, is: ErrDecrypt},
		{name: "unknown context", f: encSig, exp: func(f fixture) Expect {
			e := f.expect()
			e.ContextKeys = func(string) ([][]byte, error) { return nil, nil }
			return e
		}, is: ErrUnknownContext},
		{name: "truncated HMAC", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				sv := sec.FindElement("Signature").FindElement("SignatureValue")
				v, _ := base64.StdEncoding.DecodeString(sv.Text())
				sv.SetText(base64.StdEncoding.EncodeToString(v[:10]))
			})
		}, is: dsig.ErrTruncatedHMAC},
		{name: "EncryptedData replaced", f: signFirst, msg: func(t *testing.T) []byte {
			theirs := parse(t, other.resp).Body.ChildElements()[0].Copy()
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				mine := env.Body.ChildElements()[0]
				theirs.CreateAttr("Id", mine.SelectAttrValue("Id", ""))
				env.Body.RemoveChild(mine)
				env.Body.AddChild(theirs)
			})
		}},
		{name: "CBC padding tampered", f: signFirst, msg: func(t *testing.T) []byte {
			return edit(t, signFirst.resp, func(env *soap.Envelope, sec *etree.Element) {
				cv := env.Body.FindElement(".//CipherValue")
				b, _ := base64.StdEncoding.DecodeString(cv.Text())
				b[len(b)-17] ^= 0xff // the pad length byte becomes > 16
				cv.SetText(base64.StdEncoding.EncodeToString(b))
			})
		}, is: ErrDecrypt},
		{name: "answer to another MessageID", f: signFirst, msg: func(t *testing.T) []byte { return other.resp }, exp: func(f fixture) Expect {
			e := f.expect()
			return e
		}, says: "relates to"},
		{name: "DKT absurd Length", f: encSig, msg: dkt(encSig, "Length", "999999999"), says: "Length"},
		{name: "DKT absurd Offset", f: encSig, msg: dktAdd(encSig, "Offset", "100000"), says: "Offset"},
		{name: "DKT absurd Generation", f: encSig, msg: dktAdd(encSig, "Generation", "99999"), says: "Generation"},
		{name: "DKT negative Length", f: encSig, msg: dkt(encSig, "Length", "-1"), says: "Length"},
		{name: "ReferenceList naming no element", f: encSig, msg: func(t *testing.T) []byte {
			return edit(t, encSig.resp, func(env *soap.Envelope, sec *etree.Element) {
				rl := sec.FindElement("ReferenceList")
				for _, c := range rl.ChildElements() {
					rl.RemoveChild(c)
				}
			})
		}, says: "empty ReferenceList"},
		{name: "ReferenceList naming an Id twice present", f: encSig, msg: func(t *testing.T) []byte {
			return edit(t, encSig.resp, func(env *soap.Envelope, sec *etree.Element) {
				id := env.Body.ChildElements()[0].SelectAttrValue("Id", "")
				env.Header.CreateElement("Decoy").CreateAttr("Id", id)
			})
		}, says: "resolves to 2 elements"},
		{name: "ReferenceList naming a missing Id", f: encSig, msg: func(t *testing.T) []byte {
			return edit(t, encSig.resp, func(env *soap.Envelope, sec *etree.Element) {
				sec.FindElement("ReferenceList").CreateElement("DataReference").CreateAttr("URI", "#nowhere")
			})
		}, says: "resolves to 0 elements"},
		{name: "SignatureConfirmation missing", f: confirmed, msg: func(t *testing.T) []byte { return encSig.resp }, exp: func(f fixture) Expect {
			e := f.expect()
			e.Request = encSig.sent
			e.Request.SignatureValues = confirmed.sent.SignatureValues
			return e
		}, says: "signature confirmations"},
		{name: "SignatureConfirmation wrong", f: confirmed, exp: func(f fixture) Expect {
			e := f.expect()
			r := *f.sent
			r.SignatureValues = [][]byte{bytes.Repeat([]byte{9}, 20)}
			e.Request = &r
			return e
		}, says: "does not match"},
		{name: "unexpected element in the Security header", f: encSig, msg: func(t *testing.T) []byte {
			return edit(t, encSig.resp, func(env *soap.Envelope, sec *etree.Element) {
				sec.CreateElement("BinarySecurityToken")
			})
		}, says: "unexpected"},
		{name: "signature in clear under the encrypt-signature order", f: encSig, msg: func(t *testing.T) []byte { return signFirst.resp }, exp: func(f fixture) Expect {
			e := f.expect()
			e.Request = signFirst.sent
			return e
		}, says: "not encrypted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			msg := f.resp
			if c.msg != nil {
				msg = c.msg(t)
			}
			exp := f.expect()
			if c.exp != nil {
				exp = c.exp(f)
			}
			if c.name == "Timestamp stale" {
				cfg := f.client.Config()
				cfg.Now = func() time.Time { return now.Add(11 * time.Minute) }
				f.client = mustProfile(t, cfg)
			}
			err := f.open(t, msg, exp)
			if err == nil {
				t.Fatal("opened")
			}
			t.Log(err)
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
	// The genuine answers open, with the same expectations.
	for name, f := range map[string]fixture{"sign first": signFirst, "encrypt signature": encSig, "confirmed": confirmed, "encrypt first": encFirst} {
		if err := f.open(t, f.resp, f.expect()); err != nil {
			t.Errorf("%s: genuine answer refused: %v", name, err)
		}
	}
}

// pointReference makes the clear Signature's Reference to from name to
// instead, with to's digest, as a signer holding the key could.
func pointReference(t *testing.T, sec, from, to *etree.Element) {
	t.Helper()
	id, _ := wss.ID(from)
	toID := to.SelectAttrValue("Id", "")
	si := sec.FindElement("Signature").FindElement("SignedInfo")
	for _, r := range si.SelectElements("Reference") {
		if r.SelectAttrValue("URI", "") == "#"+id {
			canon, err := c14n.Exclusive(to, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha1.Sum(canon)
			r.CreateAttr("URI", "#"+toID)
			r.FindElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(sum[:]))
			return
		}
	}
	t.Fatalf("no reference to %s", from.Tag)
}

// dkt sets a DerivedKeyToken child's text in f's answer.
func dkt(f fixture, local, value string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		return edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
			sec.FindElement("DerivedKeyToken").FindElement(local).SetText(value)
		})
	}
}

// dktAdd adds a DerivedKeyToken child before its Length.
func dktAdd(f fixture, local, value string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		return edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
			d := sec.FindElement("DerivedKeyToken")
			l := d.FindElement("Length")
			el := etree.NewElement(l.Space + ":" + local)
			el.SetText(value)
			d.InsertChildAt(l.Index(), el)
		})
	}
}

// TestHostileDuplicateBody: a second Body never reaches Open; the SOAP
// parser refuses it.
func TestHostileDuplicateBody(t *testing.T) {
	f := newFixture(t, SignBeforeEncrypt, false, "a")
	msg := edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
		env.Root.AddChild(env.Body.Copy())
	})
	if _, err := soap.ParseWith(msg, xmldoc.Options{}); err == nil || !strings.Contains(err.Error(), "Body occurs 2 times") {
		t.Fatalf("parsed: %v", err)
	}
}

// TestDecryptionFailuresLookAlike: a tampered padding, a ciphertext cut
// by a block and a ciphertext whose padding survives but whose plaintext
// is garbage all fail with exactly ErrDecrypt, in the same time class
// (the medians are compared as budgets).
func TestDecryptionFailuresLookAlike(t *testing.T) {
	f := newFixture(t, SignBeforeEncrypt, false, "t")
	cipher := func(mod func(b []byte) []byte) []byte {
		return edit(t, f.resp, func(env *soap.Envelope, sec *etree.Element) {
			cv := env.Body.FindElement(".//CipherValue")
			b, _ := base64.StdEncoding.DecodeString(cv.Text())
			cv.SetText(base64.StdEncoding.EncodeToString(mod(b)))
		})
	}
	variants := []struct {
		name string
		msg  []byte
	}{
		{"bad padding", cipher(func(b []byte) []byte { b[len(b)-17] ^= 0xff; return b })},
		{"cut by a block", cipher(func(b []byte) []byte { return b[:len(b)-16] })},
		{"garbage with valid padding", cipher(func(b []byte) []byte {
			// Change the first block: the first plaintext block is
			// garbage, the padding in the last block is untouched.
			b[20] ^= 0x55
			return b
		})},
	}
	medians := make([]time.Duration, len(variants))
	for i, v := range variants {
		var runs []time.Duration
		for range 31 {
			env := parse(t, v.msg)
			start := time.Now()
			_, err := f.client.Open(env, f.expect())
			runs = append(runs, time.Since(start))
			if err != ErrDecrypt {
				t.Fatalf("%s: %v, want exactly ErrDecrypt", v.name, err)
			}
		}
		slices.Sort(runs)
		medians[i] = runs[len(runs)/2]
	}
	for i, v := range variants[1:] {
		testkit.Budget(t, "median time to refuse ("+v.name+") against bad padding", medians[i+1], medians[0])
		testkit.Budget(t, "median time to refuse (bad padding) against "+v.name, medians[0], medians[i+1])
	}
}
