package crypt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyward/keyward/secret"
)

var dekAD = Context{Deployment: "dep-01H8Z", Database: "payroll", Record: "dek/3", Purpose: "dek"}.AD()

func mustWrap(t *testing.T, kek, key *secret.Key, ad []byte) []byte {
	t.Helper()
	blob, err := WrapKey(kek, key, ad)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestWrapRoundTrip(t *testing.T) {
	kek, key := randomKey(t), randomKey(t)
	blob := mustWrap(t, kek, key, dekAD)
	if len(blob) != KeySize+WrapOverhead {
		t.Errorf("len(WrapKey(32-byte key)) = %d, want %d", len(blob), KeySize+WrapOverhead)
	}
	if bytes.Contains(blob, key.UnsafeBytes()) {
		t.Fatal("wrapped blob contains the key in the clear")
	}
	got, err := UnwrapKey(kek, blob, dekAD)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Wipe()
	if !got.Equal(key) {
		t.Error("UnwrapKey(WrapKey(key)) != key")
	}
	if again := mustWrap(t, kek, key, dekAD); bytes.Equal(again, blob) {
		t.Error("two wraps of the same key are identical: nonce not random")
	}
}

func TestWrapTamperEveryByte(t *testing.T) {
	kek := randomKey(t)
	blob := mustWrap(t, kek, randomKey(t), dekAD)
	for i := range blob {
		want := ErrAuth
		if i == 0 {
			want = ErrFormat
		}
		if k, err := UnwrapKey(kek, flip(blob, i), dekAD); !errors.Is(err, want) || k != nil {
			t.Errorf("UnwrapKey(byte %d flipped) = %v, %v, want %v", i, k, err, want)
		}
	}
}

func TestWrapBinding(t *testing.T) {
	kek := randomKey(t)
	blob := mustWrap(t, kek, randomKey(t), dekAD)
	other := Context{Deployment: "dep-01H8Z", Database: "payroll", Record: "dek/4", Purpose: "dek"}.AD()
	for _, tc := range []struct {
		name string
		kek  *secret.Key
		ad   []byte
	}{
		{"wrong kek", randomKey(t), dekAD},
		{"other ad", kek, other},
		{"empty ad", kek, nil},
		{"ad with a byte more", kek, append(bytes.Clone(dekAD), 0)},
	} {
		if _, err := UnwrapKey(tc.kek, blob, tc.ad); err != ErrAuth {
			t.Errorf("%s: UnwrapKey = %v, want ErrAuth", tc.name, err)
		}
	}
}

func TestWrapTruncated(t *testing.T) {
	kek := randomKey(t)
	blob := mustWrap(t, kek, randomKey(t), dekAD)
	for n := range len(blob) {
		want := ErrAuth
		if n <= WrapOverhead {
			want = ErrFormat
		}
		if _, err := UnwrapKey(kek, blob[:n], dekAD); !errors.Is(err, want) {
			t.Errorf("UnwrapKey(first %d bytes) = %v, want %v", n, err, want)
		}
	}
	if _, err := UnwrapKey(kek, append(bytes.Clone(blob), 0), dekAD); err != ErrAuth {
		t.Errorf("UnwrapKey(blob + 1 byte) = %v, want ErrAuth", err)
	}
}

func TestWrapNotARecord(t *testing.T) {
	// Under the same key, a record and a wrapped key must not be
	// interchangeable even when their bytes line up.
	k := randomKey(t)
	aead := testAEAD(t, k)
	rec := SealRecord(aead, 0, testCtx, make([]byte, KeySize))
	blob := append([]byte{WrapFormat}, rec[5:]...)
	if _, err := UnwrapKey(k, blob, testCtx.AD()); err != ErrAuth {
		t.Errorf("UnwrapKey(a record's nonce and body) = %v, want ErrAuth", err)
	}
}

func TestWrapKeyErrors(t *testing.T) {
	short := testKey(t, make([]byte, 16))
	if _, err := WrapKey(short, randomKey(t), nil); err == nil {
		t.Error("WrapKey with a 16-byte kek succeeded")
	}
	if _, err := WrapKey(nil, randomKey(t), nil); err == nil {
		t.Error("WrapKey with a nil kek succeeded")
	}
	if _, err := WrapKey(randomKey(t), nil, nil); err == nil {
		t.Error("WrapKey of a nil key succeeded")
	}
	blob := mustWrap(t, randomKey(t), randomKey(t), nil)
	if _, err := UnwrapKey(short, blob, nil); err == nil || isAuthOrFormat(err) {
		t.Errorf("UnwrapKey with a 16-byte kek = %v, want a key-size error", err)
	}
}
