//go:build !keyward_insecure_passthrough

package crypt

import "crypto/cipher"

// InsecurePassthrough is true only in a build with the
// keyward_insecure_passthrough tag (benchmarks), whose NewAEAD stores
// plaintext in the clear. It is a constant, chosen at compile time: nothing
// at run time can switch encryption off. Programs refuse to run when it is
// true (see cmd/keyward).
const InsecurePassthrough = false

// newAEAD builds the AEAD that NewAEAD returns: AES-256-GCM.
func newAEAD(k []byte) (cipher.AEAD, error) { return newGCM(k) }
