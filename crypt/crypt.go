// Package crypt defines keyward's ciphertext formats: encrypted records,
// wrapped keys, and chunked attachment streams. Every format starts with a
// format version byte, every format is AES-256-GCM underneath, and every
// ciphertext is bound to where it lives by a [Context].
//
// # Words
//
// A DEK (data encryption key) encrypts records and attachments of one
// database; DEKs are numbered by a key version (uint32) that every
// ciphertext carries in the clear so the reader can pick the right DEK. The
// root key wraps the DEKs; a slot KEK (key encryption key, from a master key
// provider) wraps the root key. All keys are [KeySize] (32) bytes.
//
// # Context and additional data
//
// A [Context] names the deployment, database, record and purpose of a
// ciphertext. [Context.AD] encodes it as
//
//	"keyward/v1"                          10 bytes, ASCII, no terminator
//	uint32 BE len(Deployment) | Deployment
//	uint32 BE len(Database)   | Database
//	uint32 BE len(Record)     | Record
//	uint32 BE len(Purpose)    | Purpose
//
// The fields are taken as raw bytes (no Unicode normalisation). Because the
// label has a fixed length and every field is length-prefixed, two different
// Contexts never give the same encoding.
//
// # Record ciphertext (RecordFormat = 1)
//
//	offset  size  field
//	0       1     format byte, 0x01
//	1       4     key version, uint32 big endian
//	5       12    nonce, random
//	17      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the tag
//
// The GCM additional data is bytes 0..4 (format and key version) followed by
// [Context.AD]; so the format byte and the key version are authenticated, and
// a record copied to another row, database, deployment or purpose does not
// open. Nonces are random: encrypt fewer than 2^32 records under one DEK
// (NIST SP 800-38D) and rotate long before that.
//
// # Wrapped key (WrapFormat = 1)
//
//	offset  size  field
//	0       1     format byte, 0x01
//	1       12    nonce, random
//	13      n+16  AES-256-GCM ciphertext of the n key bytes (n >= 1), then the tag
//
// The GCM key is the KEK. The GCM additional data is the 15 ASCII bytes
// "keyward/wrap/v1", then the format byte, then the caller's ad (normally the
// [Context.AD] of the slot or DEK version being wrapped). The key length is
// implicit: len(blob) - [WrapOverhead].
//
// # Attachment stream (StreamFormat = 1)
//
// A stream is a header followed by chunks:
//
//	header (StreamHeaderSize = 37 bytes):
//	0       1     format byte, 0x01
//	1       4     key version, uint32 big endian
//	5       32    salt, random
//	chunks, from offset 37: chunk 0 | chunk 1 | ... | chunk N-1
//	chunk i = AES-256-GCM(subkey, nonce_i, plaintext_i, additional data = empty) (len(plaintext_i)+16 bytes)
//
// The per-stream subkey and nonce prefix are
//
//	okm    = HKDF-SHA256(ikm = DEK, salt = header[5:37],
//	                     info = "keyward/stream/v1" || header || Context.AD(), length 39)
//	subkey = okm[0:32]
//	prefix = okm[32:39]
//	nonce_i = prefix (7) || uint32 BE i (4) || last (1 byte: 0x01 for chunk N-1, 0x00 otherwise)
//
// The chunk additional data is empty: the header and the Context are already
// bound through the subkey, and the position and the end of the stream
// through the nonce (the STREAM construction). Every chunk but the last holds
// exactly [ChunkSize] (65536) plaintext bytes; the last holds 1..ChunkSize
// bytes, or 0 bytes when it is chunk 0 (the empty stream). A stream holds at
// most 2^32 chunks; see [MaxStreamSize]. Because non-last chunks are always
// full, the chunk boundaries follow from the total size; see [PlaintextSize].
//
// # Versioning
//
// The first byte of every format is its version. A reader that meets a
// version it does not know returns [ErrFormat] without trying to decrypt; a
// new layout gets a new version byte and the old one stays readable. The
// formats above are frozen: the vectors in testdata/ must never change.
//
// # Errors
//
// Anything an attacker can cause (a flipped bit, a wrong key, a moved or
// truncated ciphertext) gives the single opaque [ErrAuth]; input too short to
// parse or with an unknown version byte gives [ErrFormat]. Misuse by the
// caller (a nil AEAD, a non-GCM AEAD) panics. No error ever holds key bytes
// or plaintext.
//
// # Memory
//
// Derived key bytes are wiped as soon as the cipher is built. The expanded
// AES key schedule inside crypto/aes (and the HMAC state inside crypto/hkdf)
// cannot be reached from outside the standard library; it is left for the
// garbage collector.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/keyward/keyward/secret"
)

var (
	// ErrAuth is returned when a ciphertext does not authenticate: it was
	// modified, truncated, moved to another Context, or the key is wrong.
	// It is deliberately the only error for all of these.
	ErrAuth = errors.New("crypt: message authentication failed")

	// ErrFormat is returned when a ciphertext is too short to parse or
	// starts with a format version this keyward does not know.
	ErrFormat = errors.New("crypt: unknown or malformed ciphertext format (it may have been written by a newer keyward, or be corrupted)")
)

// KeySize is the size in bytes of every key this package accepts.
const KeySize = 32

const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// NewAEAD returns AES-256-GCM (12-byte nonce, 16-byte tag) keyed with key,
// which must be KeySize bytes. The AEAD is safe for concurrent use; callers
// should build it once per DEK and reuse it.
func NewAEAD(key *secret.Key) (cipher.AEAD, error) {
	if key == nil {
		return nil, errors.New("crypt: nil key")
	}
	return newAEAD(key.UnsafeBytes())
}

// newGCM builds AES-256-GCM from raw key bytes. It does not keep k.
func newGCM(k []byte) (cipher.AEAD, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("crypt: key is %d bytes, want %d", len(k), KeySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	return cipher.NewGCM(block)
}

// mustBeGCM panics when aead is not a 12-byte-nonce, 16-byte-tag AEAD: the
// formats hard-code those sizes, so anything else is a programming error.
func mustBeGCM(aead cipher.AEAD) {
	if aead.NonceSize() != gcmNonceSize || aead.Overhead() != gcmTagSize {
		panic("crypt: AEAD is not AES-GCM with a 12-byte nonce and 16-byte tag; use NewAEAD")
	}
}

// formatError wraps ErrFormat with a detail that holds no secret.
func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}
