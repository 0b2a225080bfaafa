package crypt

// These tests rebuild the published vectors from the layouts in the package
// documentation using only the standard library, without calling any code
// of this package, so the documentation and the code cannot drift apart.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// docAD is Context.AD as the package documentation describes it.
func docAD(v vecContext) []byte {
	ad := []byte("keyward/v1")
	for _, f := range []string{v.Deployment, v.Database, v.Record, v.Purpose} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

func docGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRecordVectorsIndependent(t *testing.T) {
	for _, v := range loadRecordVectors(t) {
		header := []byte{0x01, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[1:], v.Version)
		ad := append(bytes.Clone(header), docAD(v.Context)...)
		want := append(bytes.Clone(header), v.Nonce...)
		want = docGCM(t, v.Key).Seal(want, v.Nonce, v.Plaintext, ad)
		if !bytes.Equal(v.Ciphertext, want) {
			t.Errorf("%s: vector = %x, documented layout gives %x", v.Name, v.Ciphertext, want)
		}
	}
}

func TestWrapVectorsIndependent(t *testing.T) {
	for _, v := range loadWrapVectors(t) {
		ad := append([]byte("keyward/wrap/v1\x01"), v.AD...)
		want := append([]byte{0x01}, v.Nonce...)
		want = docGCM(t, v.KEK).Seal(want, v.Nonce, v.Key, ad)
		if !bytes.Equal(v.Blob, want) {
			t.Errorf("%s: vector = %x, documented layout gives %x", v.Name, v.Blob, want)
		}
	}
}

func TestStreamVectorsIndependent(t *testing.T) {
	for _, v := range loadStreamVectors(t) {
		header := []byte{0x01, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[1:], v.Version)
		header = append(header, v.Salt...)
		info := append(append([]byte("keyward/stream/v1"), header...), docAD(v.Context)...)
		okm, err := hkdf.Key(sha256.New, v.DEK, v.Salt, string(info), 39)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(okm[:32], v.Subkey) || !bytes.Equal(okm[32:], v.NoncePrefix) {
			t.Errorf("%s: subkey, prefix = %x, %x; documented derivation gives %x, %x",
				v.Name, v.Subkey, v.NoncePrefix, okm[:32], okm[32:])
		}
		g := docGCM(t, okm[:32])
		pt, out := v.plaintext(), bytes.Clone(header)
		for i := uint32(0); ; i++ {
			n := min(len(pt), 65536)
			last := len(pt) <= 65536
			nonce := binary.BigEndian.AppendUint32(bytes.Clone(okm[32:39]), i)
			nonce = append(nonce, map[bool]byte{false: 0, true: 1}[last])
			out = g.Seal(out, nonce, pt[:n], nil)
			if last {
				break
			}
			pt = pt[n:]
		}
		sum := sha256.Sum256(out)
		if len(out) != v.CiphertextLen || !bytes.Equal(sum[:], v.CiphertextSHA256) {
			t.Errorf("%s: documented layout gives %d bytes, SHA-256 %x; vector says %d bytes, %x",
				v.Name, len(out), sum, v.CiphertextLen, v.CiphertextSHA256)
		}
		if v.Ciphertext != nil && !bytes.Equal(out, v.Ciphertext) {
			t.Errorf("%s: documented layout gives %x, vector is %x", v.Name, out, v.Ciphertext)
		}
	}
}
