// Package xenc is scproxy's XML Encryption: it encrypts and decrypts bytes
// and keys, and builds and strictly parses the elements that carry them.
// It does not know where a message puts them; wire/msgsec does.
//
// It implements XML Encryption 1.0 (W3C Recommendation 10 December 2002):
//
//   - §3.4 EncryptedData, §3.5.1 EncryptedKey, §3.6 ReferenceList and
//     DataReference, §3.2 CipherData (CipherValue only; CipherReference is
//     refused), namespace http://www.w3.org/2001/04/xmlenc# matched by URI;
//   - §5.2 block encryption: AES-128/192/256-CBC (§5.2.2) and
//     TripleDES-CBC (§5.2.1), the IV first, then the ciphertext, with the
//     padding of §5.2 (the last byte is the pad length, the other pad bytes
//     are arbitrary);
//   - §5.4 key transport: RSA-OAEP with MGF1 and SHA-1 (§5.4.2, no
//     OAEPparams) and RSA PKCS#1 v1.5 (§5.4.1, only for the Rsa15 suites of
//     WS-SecurityPolicy 1.2 §6.1).
//
// Block replaces an element, or an element's content, with its
// EncryptedData; ParsePlain and Replace put decrypted octets back, parsed
// under limits in the namespace context of the EncryptedData, where XML
// Encryption 1.0 §4.5 says a decryptor parses them.
//
// Every failure to decrypt, whatever its cause (bad base64, wrong length,
// bad padding, a key that does not unwrap), is the one error ErrDecrypt,
// reached the same way: padding is checked in constant time, and an RSA
// PKCS#1 v1.5 key that does not unwrap is replaced by a random key of the
// expected size (implicit rejection), so the failure surfaces later, as any
// other wrong key would. Nothing distinguishes one cause from another.
package xenc
