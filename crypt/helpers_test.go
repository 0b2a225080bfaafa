package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/secret"
)

// hexBytes is a []byte that JSON encodes as lowercase hex.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// fixed returns n bytes seed, seed+1, ... (mod 256): readable fixed test input.
func fixed(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// pattern returns the n-byte plaintext the large stream vectors use:
// byte i is i mod 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testKey returns a secret.Key holding b, wiped when the test ends.
func testKey(t testing.TB, b []byte) *secret.Key {
	t.Helper()
	k := secret.New(b)
	t.Cleanup(k.Wipe)
	return k
}

func randomKey(t testing.TB) *secret.Key {
	t.Helper()
	k := secret.Random(KeySize)
	t.Cleanup(k.Wipe)
	return k
}

func testAEAD(t testing.TB, k *secret.Key) cipher.AEAD {
	t.Helper()
	a, err := NewAEAD(k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var testCtx = Context{Deployment: "dep-01H8Z", Database: "payroll", Record: "entry/42", Purpose: "entry"}

// otherContexts are testCtx changed in one way each; none may open what
// was sealed under testCtx.
var otherContexts = []struct {
	name string
	c    Context
}{
	{"other deployment", Context{"dep-01H90", "payroll", "entry/42", "entry"}},
	{"other database", Context{"dep-01H8Z", "payroll-old", "entry/42", "entry"}},
	{"other record", Context{"dep-01H8Z", "payroll", "entry/43", "entry"}},
	{"other purpose", Context{"dep-01H8Z", "payroll", "entry/42", "attachment"}},
	{"fields shifted", Context{"dep-01H8Zpayroll", "", "entry/42", "entry"}},
	{"boundary moved", Context{"dep-01H8Z", "payrolle", "ntry/42", "entry"}},
	{"empty", Context{}},
}

// sealStream encrypts pt as one stream in memory with the given salt
// (random if nil), chunking by hand with StreamSealer.
func sealStream(t testing.TB, dek *secret.Key, version uint32, c Context, salt, pt []byte) []byte {
	t.Helper()
	if salt == nil {
		salt = randBytes(t, streamSaltSize)
	}
	s, err := newStreamSealerSalt(dek, version, c, salt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := s.Header()
	for {
		n := min(len(pt), ChunkSize)
		last := len(pt) <= ChunkSize
		out, err = s.SealChunk(out, pt[:n], last)
		if err != nil {
			t.Fatal(err)
		}
		if last {
			return out
		}
		pt = pt[n:]
	}
}

// openStream decrypts a whole in-memory stream through Reader.
func openStream(dek *secret.Key, c Context, ct []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), dek, c)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// isAuthOrFormat reports whether err is one of the two errors an attacker
// may cause.
func isAuthOrFormat(err error) bool {
	return errors.Is(err, ErrAuth) || errors.Is(err, ErrFormat)
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (generate with: go test ./crypt -run TestGenerateVectors -update)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
}

func writeJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flip returns a copy of b with bit 0 of byte i inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}
