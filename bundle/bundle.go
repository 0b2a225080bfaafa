// Package bundle reads and writes keyward's key export bundle: every data
// key version of chosen databases, with a key check value each, the
// deployment id, the creation time and a format version, as JSON inside an
// age file (https://age-encryption.org/v1). The age file is protected by a
// passphrase (age's scrypt recipient) or by X25519 recipients, optionally
// ASCII-armored, so an operator can open it with the `age` CLI to inspect
// it. docs/formats.md describes the payload field by field.
//
// The payload holds raw keys. It is decrypted into Go heap memory that
// cannot be locked or reliably wiped; Read moves each key into a
// [secret.Key] and clears the bytes it decoded, but the JSON text itself is
// only cleared on a best-effort basis.
package bundle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/keyward/keyward/secret"
)

// Format and Version identify the payload. A reader refuses any other
// format, and any version newer than it knows.
const (
	Format  = "keyward-key-export"
	Version = 1
)

// Bundle is the decrypted content of an export.
type Bundle struct {
	DeploymentID string
	Created      time.Time
	Databases    []Database
}

// Database is one database's keys.
type Database struct {
	Name string
	ID   string // the database id bound into every ciphertext
	Keys []Key
}

// Key is one data key version.
type Key struct {
	Version uint32
	State   string // "primary", "active" or "retired", as exported
	Created time.Time
	Key     *secret.Key
}

// Wipe wipes every key of the bundle.
func (b *Bundle) Wipe() {
	for _, db := range b.Databases {
		for _, k := range db.Keys {
			if k.Key != nil {
				k.Key.Wipe()
			}
		}
	}
}

// KeySize is the size of a data key.
const KeySize = 32

// CheckValue is a key's check value: the first 8 bytes of
// HMAC-SHA256(key, "keyward key check value v1"), in hex. It identifies a
// key (two keys with the same check value are the same key, barring a
// 2^-64 accident) without revealing anything usable about it.
func CheckValue(k *secret.Key) string {
	m := hmac.New(sha256.New, k.UnsafeBytes())
	m.Write([]byte("keyward key check value v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Errors Read returns; test with errors.Is.
var (
	// ErrWrongSecret: no passphrase or identity given opens the file.
	ErrWrongSecret = errors.New("bundle: the passphrase or identity does not open this export")
	// ErrCorrupt: the file is truncated, altered or not an age file.
	ErrCorrupt = errors.New("bundle: the export file is truncated, altered or not a keyward export")
	// ErrCheckValue: a key does not match its check value.
	ErrCheckValue = errors.New("bundle: a key does not match its check value")
	// ErrFormat: the payload is not a keyward export this build can read.
	ErrFormat = errors.New("bundle: not a keyward key export this version can read")
)
