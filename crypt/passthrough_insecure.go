//go:build keyward_insecure_passthrough

package crypt

// This file is compiled only with -tags keyward_insecure_passthrough, which
// the entry benchmarks (bench/entries, driven by bench/cmd/kwbench) use to
// measure the same code path with and without encryption. In such a build
// NewAEAD returns an AEAD that stores the plaintext IN THE CLEAR: records and
// wrapped data keys are not protected at all. Never build anything that
// ships with this tag; programs can check InsecurePassthrough and refuse.
//
// Only NewAEAD is affected (records and wrapped keys). Attachment streams
// keep AES-GCM, and the published vectors do not hold in this build.
//
// SetPassthrough(false) makes NewAEAD return AES-256-GCM again, so that one
// benchmark process can hold an encrypted and a pass-through deployment side
// by side and time them in turn (bench/entries, BenchmarkInterleaved). The
// choice is made when an AEAD is built, that is when a data key is loaded;
// an AEAD already built keeps its kind.

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// InsecurePassthrough reports a build whose records are not encrypted.
const InsecurePassthrough = true

// realAEAD, when set, makes newAEAD build AES-256-GCM in this build too.
var realAEAD atomic.Bool

// SetPassthrough chooses what NewAEAD builds from now on in this build:
// the pass-through (true, the default) or AES-256-GCM (false). It exists
// only with the keyward_insecure_passthrough tag.
func SetPassthrough(on bool) { realAEAD.Store(!on) }

// newAEAD builds the AEAD that NewAEAD returns: the pass-through, unless
// SetPassthrough(false) chose AES-256-GCM.
func newAEAD(k []byte) (cipher.AEAD, error) {
	if realAEAD.Load() {
		return newGCM(k)
	}
	return newPassthrough(k)
}

func init() {
	fmt.Fprintln(os.Stderr, "crypt: WARNING: built with keyward_insecure_passthrough: records are NOT encrypted (benchmarks only)")
}

// errPassthroughTag is returned by passthrough.Open for a tag that is not
// all zeros; callers turn it into ErrAuth as they do for GCM failures.
var errPassthroughTag = errors.New("crypt: pass-through tag is not zero")

// newPassthrough checks k as newGCM does, then ignores it.
func newPassthrough(k []byte) (cipher.AEAD, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("crypt: key is %d bytes, want %d", len(k), KeySize)
	}
	return passthrough{}, nil
}

// passthrough has the shape of AES-GCM (12-byte nonce, 16-byte tag) so
// that every format keeps its sizes, but Seal only copies the plaintext and
// appends a zero tag, and Open only checks that tag.
type passthrough struct{}

var zeroTag [gcmTagSize]byte

func (passthrough) NonceSize() int { return gcmNonceSize }
func (passthrough) Overhead() int  { return gcmTagSize }

func (passthrough) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != gcmNonceSize {
		panic("crypt: incorrect nonce length given to pass-through AEAD")
	}
	dst = append(dst, plaintext...)
	return append(dst, zeroTag[:]...)
}

func (passthrough) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != gcmNonceSize {
		panic("crypt: incorrect nonce length given to pass-through AEAD")
	}
	n := len(ciphertext) - gcmTagSize
	if n < 0 || [gcmTagSize]byte(ciphertext[n:]) != zeroTag {
		return nil, errPassthroughTag
	}
	return append(dst, ciphertext[:n]...), nil
}
