package crypt

import (
	"crypto/rand"
	"errors"

	"github.com/keyward/keyward/secret"
)

// WrapFormat is the format byte of wrapped keys written by WrapKey.
const WrapFormat byte = 1

// WrapOverhead is how many bytes WrapKey adds to the key: format (1),
// nonce (12) and GCM tag (16). A wrapped 32-byte key is 61 bytes.
const WrapOverhead = 1 + 12 + 16

// wrapLabel starts the additional data of every wrapped key, so a wrapped
// key can never be mistaken for a record (whose additional data starts with
// the record format byte) even under the same key.
const wrapLabel = "keyward/wrap/v1"

// WrapKey encrypts key under kek (KeySize bytes) and binds it to ad, which
// should name what is wrapped and where it is kept, normally a Context.AD()
// such as {Record: "dek/3", Purpose: "dek"}. The result is
// format | nonce | ciphertext+tag, with a random nonce.
//
// It returns an error only for a nil or wrongly sized kek or a nil key.
func WrapKey(kek, key *secret.Key, ad []byte) ([]byte, error) {
	var nonce [gcmNonceSize]byte
	rand.Read(nonce[:]) // never returns an error; crashes the program if the OS RNG fails
	return wrapKeyNonce(kek, key, ad, nonce[:])
}

// wrapKeyNonce is WrapKey with a given nonce, for test vectors.
func wrapKeyNonce(kek, key *secret.Key, ad, nonce []byte) ([]byte, error) {
	if kek == nil || key == nil {
		return nil, errors.New("crypt: WrapKey with a nil key")
	}
	aead, err := NewAEAD(kek)
	if err != nil {
		return nil, err
	}
	if len(nonce) != gcmNonceSize {
		panic("crypt: wrap nonce must be 12 bytes")
	}
	k := key.UnsafeBytes()
	out := make([]byte, 1+gcmNonceSize, len(k)+WrapOverhead)
	out[0] = WrapFormat
	copy(out[1:], nonce)
	return aead.Seal(out, nonce, k, wrapAD(ad)), nil
}

// wrapAD is the GCM additional data of a wrapped key:
// "keyward/wrap/v1" || format byte || ad.
func wrapAD(ad []byte) []byte {
	out := make([]byte, 0, len(wrapLabel)+1+len(ad))
	out = append(out, wrapLabel...)
	out = append(out, WrapFormat)
	return append(out, ad...)
}

// UnwrapKey decrypts a blob made by WrapKey with the same kek and ad and
// returns the key as a secret.Key; the caller owns it and should Wipe it.
// The unwrapped bytes never stay in an unwiped buffer.
//
// It returns ErrFormat for a blob shorter than WrapOverhead+1 or with an
// unknown format byte, ErrAuth for anything that does not authenticate
// (wrong kek, other ad, modified blob), and another error for a nil or
// wrongly sized kek.
func UnwrapKey(kek *secret.Key, blob []byte, ad []byte) (*secret.Key, error) {
	if kek == nil {
		return nil, errors.New("crypt: UnwrapKey with a nil key")
	}
	if len(blob) == 0 {
		return nil, formatError("empty wrapped key")
	}
	if blob[0] != WrapFormat {
		return nil, formatError("wrapped key format %d, this keyward reads format %d", blob[0], WrapFormat)
	}
	if len(blob) < WrapOverhead+1 {
		return nil, formatError("wrapped key is %d bytes, shorter than the minimum %d", len(blob), WrapOverhead+1)
	}
	aead, err := NewAEAD(kek)
	if err != nil {
		return nil, err
	}
	nonce := blob[1 : 1+gcmNonceSize]
	body := blob[1+gcmNonceSize:]
	// Open writes into buf's capacity and zeroes it on failure; on success
	// FromBytes copies it into guarded memory and zeroes it.
	buf := make([]byte, 0, len(body)-gcmTagSize)
	pt, err := aead.Open(buf, nonce, body, wrapAD(ad))
	if err != nil {
		clear(buf[:cap(buf)])
		return nil, ErrAuth
	}
	return secret.FromBytes(pt), nil
}
