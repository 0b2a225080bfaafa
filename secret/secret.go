// Package secret holds key material in an opaque type.
//
// A [Key] is copied in once, kept in locked, guard-paged memory where the
// process may lock it (memguard), and wiped by [Key.Wipe]. It never prints:
// fmt verbs, JSON and slog all see "secret.Key(REDACTED)". The raw bytes are
// reachable only through [Key.UnsafeBytes] (an alias of the guarded memory)
// and [Key.UnsafeCopy] (a copy the caller must wipe), whose names are meant
// to stand out in review. Comparing two keys takes constant time.
//
// A Key that has been wiped must not be used again: every accessor panics,
// because using a zeroed key would silently encrypt under a known key.
package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// KeySize is the size in bytes of every symmetric key keyward uses.
const KeySize = 32

// Key is an opaque piece of key material. The zero value is not usable;
// create keys with [New], [FromBytes] or [Random].
type Key struct {
	mu     sync.RWMutex
	locked *coreBuffer // nil when the memory could not be locked
	plain  []byte      // used only when locked is nil
	n      int
	wiped  bool
}

// ErrWiped is returned by operations on a key that was already wiped.
var ErrWiped = errors.New("secret: key already wiped")

// FromBytes returns a Key holding a copy of b and then overwrites b with
// zeros, so the only copy left is the guarded one.
func FromBytes(b []byte) *Key {
	k := New(b)
	clear(b)
	return k
}

// New returns a Key holding a copy of b. The caller keeps b and should wipe it.
func New(b []byte) *Key {
	if len(b) == 0 {
		panic("secret: empty key")
	}
	k := &Key{n: len(b)}
	if buf := allocLocked(len(b)); buf != nil {
		k.locked = buf
		copy(buf.Data(), b)
	} else {
		k.plain = make([]byte, len(b))
		copy(k.plain, b)
	}
	return k
}

// Random returns a new Key of n bytes from crypto/rand.
func Random(n int) *Key {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; if it does,
		// continuing would produce a predictable key.
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return FromBytes(b)
}

// Len returns the key's length in bytes.
func (k *Key) Len() int { return k.n }

// UnsafeBytes returns the key's raw bytes. The slice aliases guarded memory:
// do not keep it beyond the Key's lifetime, do not modify it, never log it.
// It panics if the key was wiped.
func (k *Key) UnsafeBytes() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.bytesLocked()
}

func (k *Key) bytesLocked() []byte {
	if k == nil || k.wiped {
		panic("secret: use of a wiped or nil key")
	}
	if k.locked != nil {
		if !k.locked.Alive() {
			// memguard destroyed the buffer behind our back (a purge):
			// refuse to hand out zeroed memory as key material.
			panic("secret: key memory was purged")
		}
		return k.locked.Data()
	}
	return k.plain
}

// UnsafeCopy copies the key's raw bytes into dst and returns Len(). dst
// must hold at least Len() bytes. The copy is the caller's to protect:
// wipe it (clear(dst)) as soon as it is no longer needed, and never log it.
// It panics if the key was wiped, like every accessor, or if dst is too
// short, which would silently truncate the key.
func (k *Key) UnsafeCopy(dst []byte) int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	b := k.bytesLocked()
	if len(dst) < len(b) {
		panic(fmt.Sprintf("secret: UnsafeCopy into %d bytes, the key has %d", len(dst), len(b)))
	}
	return copy(dst, b)
}

// Clone returns an independent copy of k.
func (k *Key) Clone() *Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return New(k.bytesLocked())
}

// Equal reports whether k and o hold the same bytes, in constant time for
// keys of equal length.
func (k *Key) Equal(o *Key) bool {
	if k == o {
		return true
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	return subtle.ConstantTimeCompare(k.bytesLocked(), o.bytesLocked()) == 1
}

// Wipe overwrites the key with zeros and releases its memory. It is safe to
// call more than once and on a nil Key.
func (k *Key) Wipe() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.wiped {
		return
	}
	k.wiped = true
	if k.locked != nil {
		k.locked.Destroy()
		releaseLocked(k.n)
		k.locked = nil
	}
	clear(k.plain)
	k.plain = nil
}

// Wiped reports whether Wipe was called.
func (k *Key) Wiped() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.wiped
}

// String never reveals the key.
func (k *Key) String() string { return "secret.Key(REDACTED)" }

// GoString never reveals the key.
func (k *Key) GoString() string { return "secret.Key(REDACTED)" }

// Format makes every fmt verb print the redacted form.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue makes log/slog print the redacted form.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON refuses to serialise a key.
func (k *Key) MarshalJSON() ([]byte, error) {
	return nil, errors.New("secret: a key cannot be marshalled to JSON")
}

// MarshalText refuses to serialise a key.
func (k *Key) MarshalText() ([]byte, error) {
	return nil, errors.New("secret: a key cannot be marshalled to text")
}
