package crypt

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
)

// RecordFormat is the format byte of record ciphertexts written by
// SealRecord.
const RecordFormat byte = 1

// RecordOverhead is how many bytes SealRecord adds to the plaintext:
// format (1), key version (4), nonce (12) and GCM tag (16).
const RecordOverhead = 1 + 4 + 12 + 16

const recordHeaderSize = 1 + 4

// SealRecord encrypts plaintext for the record described by c with aead
// (from NewAEAD, keyed with the DEK of the given key version) and returns
// format | version | nonce | ciphertext+tag, a new slice of
// len(plaintext)+RecordOverhead bytes. The nonce is random.
//
// It panics if aead is nil or is not AES-GCM with a 12-byte nonce.
func SealRecord(aead cipher.AEAD, version uint32, c Context, plaintext []byte) []byte {
	var nonce [gcmNonceSize]byte
	rand.Read(nonce[:]) // never returns an error; crashes the program if the OS RNG fails
	return sealRecordNonce(aead, version, c, plaintext, nonce[:])
}

// sealRecordNonce is SealRecord with a given nonce. Only tests (vectors)
// may call it with anything but a fresh random nonce.
func sealRecordNonce(aead cipher.AEAD, version uint32, c Context, plaintext, nonce []byte) []byte {
	mustBeGCM(aead)
	if len(nonce) != gcmNonceSize {
		panic("crypt: record nonce must be 12 bytes")
	}
	out := make([]byte, recordHeaderSize+gcmNonceSize, len(plaintext)+RecordOverhead)
	out[0] = RecordFormat
	binary.BigEndian.PutUint32(out[1:5], version)
	copy(out[recordHeaderSize:], nonce)
	ad := recordAD(out[:recordHeaderSize], c)
	return aead.Seal(out, nonce, plaintext, ad)
}

// recordAD is the GCM additional data of a record: header || c.AD().
func recordAD(header []byte, c Context) []byte {
	ad := make([]byte, 0, len(header)+c.adLen())
	ad = append(ad, header...)
	return c.appendAD(ad)
}

// OpenRecord decrypts a ciphertext made by SealRecord under the same
// Context, with aead keyed by the DEK whose version RecordKeyVersion reports.
// It returns a new plaintext slice.
//
// It returns ErrFormat when the ciphertext is shorter than RecordOverhead
// or has an unknown format byte, and ErrAuth for anything else that does not
// authenticate: a modified byte, a wrong key, another Context, another key
// version. It panics if aead is nil or is not AES-GCM with a 12-byte nonce.
func OpenRecord(aead cipher.AEAD, c Context, ciphertext []byte) ([]byte, error) {
	mustBeGCM(aead)
	if _, err := RecordKeyVersion(ciphertext); err != nil {
		return nil, err
	}
	header := ciphertext[:recordHeaderSize]
	nonce := ciphertext[recordHeaderSize : recordHeaderSize+gcmNonceSize]
	body := ciphertext[recordHeaderSize+gcmNonceSize:]
	out := make([]byte, 0, len(body)-gcmTagSize)
	pt, err := aead.Open(out, nonce, body, recordAD(header, c))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// RecordKeyVersion returns the key version in a record ciphertext's header,
// to pick the DEK to open it with. It does not authenticate anything (that
// is OpenRecord's job); it returns ErrFormat when ciphertext is shorter than
// RecordOverhead or has an unknown format byte, so a ciphertext it accepts
// never makes OpenRecord return ErrFormat.
func RecordKeyVersion(ciphertext []byte) (uint32, error) {
	if len(ciphertext) == 0 {
		return 0, formatError("empty record ciphertext")
	}
	if ciphertext[0] != RecordFormat {
		return 0, formatError("record format %d, this keyward reads format %d", ciphertext[0], RecordFormat)
	}
	if len(ciphertext) < RecordOverhead {
		return 0, formatError("record ciphertext is %d bytes, shorter than the minimum %d", len(ciphertext), RecordOverhead)
	}
	return binary.BigEndian.Uint32(ciphertext[1:5]), nil
}
