package masterkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/keyward/keyward/secret"
)

// Sizes of the wrapped-key part shared by every blob.
const (
	keySize    = secret.KeySize // root keys and KEKs
	nonceSize  = 12             // AES-GCM standard nonce
	tagSize    = 16             // AES-GCM tag
	sealedSize = nonceSize + keySize + tagSize
)

// Format of the blobs of the key-file family (auto, file, exec, recovery):
// version | nonce | ciphertext | tag. See the package documentation.
const (
	kekBlobVersion = 1
	kekBlobSize    = 1 + sealedSize
)

// newAEAD returns AES-256-GCM keyed with a subkey of kek specific to kind,
// so that one key used by two providers (or elsewhere by the operator)
// never serves as the same AES key twice.
func newAEAD(kind string, kek *secret.Key) (cipher.AEAD, error) {
	if kek == nil || kek.Len() != keySize {
		return nil, errors.New("masterkey: internal error: key-encryption key is not 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, kek.UnsafeBytes(), nil, "keyward masterkey "+kind+" v1", keySize)
	if err != nil {
		return nil, fmt.Errorf("masterkey: deriving the wrapping key: %w", err)
	}
	defer clear(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	return cipher.NewGCM(block)
}

// additionalData binds the blob's header (version and parameters) and the
// caller's ad: uint32 big-endian len(header) | header | ad.
func additionalData(header, ad []byte) []byte {
	b := make([]byte, 0, 4+len(header)+len(ad))
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	return append(b, ad...)
}

// randomNonce returns a fresh AES-GCM nonce from crypto/rand.
func randomNonce() ([]byte, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("masterkey: reading random nonce: %w", err)
	}
	return nonce, nil
}

// seal returns header | nonce | AES-256-GCM(root) | tag, with header and ad
// authenticated. nonce must be nonceSize bytes from randomNonce; only the
// tests that re-seal the vectors pass a fixed one.
func seal(kind string, kek *secret.Key, header, nonce []byte, root *secret.Key, ad []byte) ([]byte, error) {
	if root == nil || root.Len() != keySize {
		n := 0
		if root != nil {
			n = root.Len()
		}
		return nil, fmt.Errorf("masterkey: %s: the root key must be %d bytes, got %d", kind, keySize, n)
	}
	if len(nonce) != nonceSize {
		return nil, errors.New("masterkey: internal error: nonce is not 12 bytes")
	}
	aead, err := newAEAD(kind, kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(header)+sealedSize)
	out = append(append(out, header...), nonce...)
	return aead.Seal(out, nonce, root.UnsafeBytes(), additionalData(header, ad)), nil
}

// open reverses seal. body is nonce | ciphertext | tag and must be
// sealedSize bytes (the caller checks lengths first and reports ErrFormat).
// A failed authentication returns ErrWrongKey itself; callers wrap it in a
// message that fits the provider.
func open(kind string, kek *secret.Key, header, body, ad []byte) (*secret.Key, error) {
	if len(body) != sealedSize {
		return nil, errors.New("masterkey: internal error: sealed body has the wrong size")
	}
	aead, err := newAEAD(kind, kek)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], additionalData(header, ad))
	if err != nil {
		return nil, ErrWrongKey
	}
	return secret.FromBytes(pt), nil // wipes pt
}

// sealKEK makes a key-file-family blob with a random nonce.
func sealKEK(kind string, kek, root *secret.Key, ad []byte) ([]byte, error) {
	nonce, err := randomNonce()
	if err != nil {
		return nil, err
	}
	return sealKEKNonce(kind, kek, nonce, root, ad)
}

// sealKEKNonce is sealKEK with the nonce as a parameter.
func sealKEKNonce(kind string, kek *secret.Key, nonce []byte, root *secret.Key, ad []byte) ([]byte, error) {
	return seal(kind, kek, []byte{kekBlobVersion}, nonce, root, ad)
}

// checkKEKBlob validates a key-file-family blob's version and length
// without needing the key, so a damaged slot is reported as such before
// the key source is touched.
func checkKEKBlob(kind string, blob []byte) error {
	if err := checkVersion(kind, blob, kekBlobVersion); err != nil {
		return err
	}
	if len(blob) != kekBlobSize {
		return blobSizeError(kind, len(blob), kekBlobSize)
	}
	return nil
}

// openKEK opens a blob accepted by checkKEKBlob.
func openKEK(kind string, kek *secret.Key, blob, ad []byte) (*secret.Key, error) {
	return open(kind, kek, blob[:1], blob[1:], ad)
}

func checkVersion(kind string, blob []byte, want byte) error {
	if len(blob) == 0 {
		return errf(ErrFormat, "masterkey: the %s slot is empty: it is damaged; unlock with another slot, then remove and re-add it", kind)
	}
	if blob[0] != want {
		return errf(ErrFormat,
			"masterkey: the %s slot has format version %d, this keyward reads version %d: upgrade keyward, or unlock with another slot", kind, blob[0], want)
	}
	return nil
}

func blobSizeError(kind string, got, want int) error {
	return errf(ErrFormat,
		"masterkey: the %s slot has %d bytes, want %d: it is damaged; unlock with another slot, then remove and re-add it", kind, got, want)
}
