package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// adPairs are Contexts whose fields concatenate to the same string; their
// encodings must still differ.
var adPairs = [][2]Context{
	{{Record: "ab", Purpose: "c"}, {Record: "a", Purpose: "bc"}},
	{{Deployment: "a"}, {Database: "a"}},
	{{Deployment: "x", Database: ""}, {Deployment: "", Database: "x"}},
	{{Database: "\x00\x00\x00\x01a"}, {Database: "", Record: "a"}},
	{{}, {Purpose: "\x00"}},
}

func TestContextADInjective(t *testing.T) {
	for _, p := range adPairs {
		if bytes.Equal(p[0].AD(), p[1].AD()) {
			t.Errorf("%+v.AD() == %+v.AD() = %x", p[0], p[1], p[0].AD())
		}
	}
}

// TestContextADDistinct encodes every Context made of a few tricky field
// values (empty, NUL bytes, what looks like a length prefix) and checks
// that no two encode the same.
func TestContextADDistinct(t *testing.T) {
	vals := []string{"", "a", "\x00", "\x00\x00\x00\x01a", "a\x00\x00\x00\x00", "\x00\x00\x00\x00"}
	seen := map[string]Context{}
	for _, d := range vals {
		for _, db := range vals {
			for _, r := range vals {
				for _, p := range vals {
					c := Context{d, db, r, p}
					ad := string(c.AD())
					if prev, dup := seen[ad]; dup {
						t.Fatalf("%+q and %+q both encode as %x", prev, c, ad)
					}
					seen[ad] = c
				}
			}
		}
	}
}

func TestContextADLayout(t *testing.T) {
	c := Context{Deployment: "d", Database: "db", Record: "", Purpose: "p"}
	want := []byte("keyward/v1\x00\x00\x00\x01d\x00\x00\x00\x02db\x00\x00\x00\x00\x00\x00\x00\x01p")
	if got := c.AD(); !bytes.Equal(got, want) {
		t.Errorf("AD() = %q, want %q", got, want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	for _, n := range []int{0, 1, 15, 16, 17, 300, 70000} {
		pt := randBytes(t, n)
		ct := SealRecord(aead, 7, testCtx, pt)
		if len(ct) != n+RecordOverhead {
			t.Errorf("len(SealRecord(%d bytes)) = %d, want %d", n, len(ct), n+RecordOverhead)
		}
		got, err := OpenRecord(aead, testCtx, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("OpenRecord(SealRecord(%d bytes)) = %d bytes, %v", n, len(got), err)
		}
		if v, err := RecordKeyVersion(ct); v != 7 || err != nil {
			t.Errorf("RecordKeyVersion = %d, %v, want 7", v, err)
		}
	}
}

func TestRecordNonceIsRandom(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	a := SealRecord(aead, 1, testCtx, []byte("same"))
	b := SealRecord(aead, 1, testCtx, []byte("same"))
	if bytes.Equal(a[5:17], b[5:17]) || bytes.Equal(a, b) {
		t.Errorf("two seals of the same plaintext share a nonce: %x", a[5:17])
	}
}

func TestRecordTamperEveryByte(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	ct := SealRecord(aead, 3, testCtx, []byte("the secret password is hunter2"))
	for i := range ct {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(ct)
			bad[i] ^= bit
			got, err := OpenRecord(aead, testCtx, bad)
			want := ErrAuth
			if i == 0 {
				want = ErrFormat
			}
			if !errors.Is(err, want) || got != nil {
				t.Errorf("OpenRecord(byte %d ^ %#x) = %q, %v, want %v", i, bit, got, err, want)
			}
		}
	}
}

func TestRecordWrongKey(t *testing.T) {
	ct := SealRecord(testAEAD(t, randomKey(t)), 1, testCtx, []byte("x"))
	if _, err := OpenRecord(testAEAD(t, randomKey(t)), testCtx, ct); err != ErrAuth {
		t.Errorf("OpenRecord with another key = %v, want ErrAuth", err)
	}
}

func TestRecordContextBinding(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	ct := SealRecord(aead, 1, testCtx, []byte("bound"))
	for _, o := range otherContexts {
		if _, err := OpenRecord(aead, o.c, ct); err != ErrAuth {
			t.Errorf("%s: OpenRecord = %v, want ErrAuth", o.name, err)
		}
	}
}

func TestRecordKeyVersionAuthenticated(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	ct := SealRecord(aead, 5, testCtx, []byte("v"))
	for _, v := range []uint32{0, 4, 6, 5 | 1<<24} {
		bad := bytes.Clone(ct)
		binary.BigEndian.PutUint32(bad[1:5], v)
		if got, _ := RecordKeyVersion(bad); got != v {
			t.Fatalf("RecordKeyVersion = %d, want %d", got, v)
		}
		if _, err := OpenRecord(aead, testCtx, bad); err != ErrAuth {
			t.Errorf("OpenRecord with version %d in the header = %v, want ErrAuth", v, err)
		}
	}
}

func TestRecordTruncatedAndExtended(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	ct := SealRecord(aead, 1, testCtx, []byte("0123456789"))
	for n := range len(ct) {
		want := ErrAuth
		if n < RecordOverhead {
			want = ErrFormat
		}
		if _, err := OpenRecord(aead, testCtx, ct[:n]); !errors.Is(err, want) {
			t.Errorf("OpenRecord(first %d bytes) = %v, want %v", n, err, want)
		}
		if _, err := RecordKeyVersion(ct[:n]); n < RecordOverhead && !errors.Is(err, ErrFormat) {
			t.Errorf("RecordKeyVersion(first %d bytes) = %v, want ErrFormat", n, err)
		}
	}
	if _, err := OpenRecord(aead, testCtx, append(bytes.Clone(ct), 0)); err != ErrAuth {
		t.Errorf("OpenRecord(ciphertext + 1 byte) = %v, want ErrAuth", err)
	}
}

func TestRecordUnknownFormat(t *testing.T) {
	aead := testAEAD(t, randomKey(t))
	ct := SealRecord(aead, 1, testCtx, []byte("x"))
	for _, f := range []byte{0, 2, 0xff} {
		bad := bytes.Clone(ct)
		bad[0] = f
		_, err := OpenRecord(aead, testCtx, bad)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "newer keyward") {
			t.Errorf("OpenRecord(format %d) = %v, want ErrFormat mentioning a newer keyward", f, err)
		}
	}
}

func TestNewAEADKeySize(t *testing.T) {
	for _, n := range []int{16, 24, 31, 33, 64} {
		if _, err := NewAEAD(testKey(t, make([]byte, n))); err == nil {
			t.Errorf("NewAEAD(%d-byte key) succeeded, want an error", n)
		}
	}
	if _, err := NewAEAD(nil); err == nil {
		t.Error("NewAEAD(nil) succeeded, want an error")
	}
}

func TestSealRecordRejectsNonGCM(t *testing.T) {
	block, _ := aes.NewCipher(make([]byte, 32))
	long, _ := cipher.NewGCMWithNonceSize(block, 16)
	defer func() {
		if recover() == nil {
			t.Error("SealRecord with a 16-byte-nonce AEAD did not panic")
		}
	}()
	SealRecord(long, 1, testCtx, nil)
}
