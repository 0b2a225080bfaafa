package masterkey_test

import (
	"context"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

var recoveryKeyFormat = regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$`)

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func generate(t *testing.T) string {
	t.Helper()
	k, err := masterkey.GenerateRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	if !recoveryKeyFormat.MatchString(k) {
		t.Fatalf("GenerateRecoveryKey() = %q; want 8 groups of 4 base32 characters joined by '-'", k)
	}
	return k
}

func mustParse(t *testing.T, s string) *secret.Key {
	t.Helper()
	k, err := masterkey.ParseRecoveryKey(s)
	if err != nil {
		t.Fatalf("ParseRecoveryKey(%q): %v", s, err)
	}
	return k
}

func TestRecoveryKeyRoundTrip(t *testing.T) {
	a, b := generate(t), generate(t)
	if a == b {
		t.Fatal("two recovery keys are equal")
	}
	ka, kb := mustParse(t, a), mustParse(t, b)
	if ka.Len() != 32 || !ka.Equal(mustParse(t, a)) || ka.Equal(kb) {
		t.Fatal("ParseRecoveryKey is not a function of its input")
	}
}

// A fixed vector, computed independently (Python hashlib/hmac): the
// recovery key of the bytes 00..0f and its KEK. It never changes once
// released.
func TestRecoveryKeyVector(t *testing.T) {
	const key = "AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B67E-LSZG"
	const kek = "4db1b45c3890150663ed3342a4222ed0f40876036e094851bc2ded9545a23caf"
	got := mustParse(t, key)
	if h := hex.EncodeToString(got.UnsafeBytes()); h != kek {
		t.Errorf("ParseRecoveryKey(%s) = %s, want %s", key, h, kek)
	}
}

func TestRecoveryKeyLenient(t *testing.T) {
	k := generate(t)
	want := mustParse(t, k)
	misread := strings.NewReplacer("O", "0", "I", "1", "B", "8")
	variants := []string{
		strings.ToLower(k),
		strings.ReplaceAll(k, "-", ""),
		strings.ReplaceAll(k, "-", " "),
		"  " + strings.ReplaceAll(k, "-", " - ") + "\n",
		misread.Replace(k),
		strings.ToLower(misread.Replace(strings.ReplaceAll(k, "-", "\t"))),
	}
	for _, v := range variants {
		if got := mustParse(t, v); !got.Equal(want) {
			t.Errorf("ParseRecoveryKey(%q) differs from ParseRecoveryKey(%q)", v, k)
		}
	}
}

// Every single-character substitution must be caught by the checksum.
func TestRecoveryKeyTypos(t *testing.T) {
	for range 4 {
		k := strings.ReplaceAll(generate(t), "-", "")
		for i := range k {
			for _, c := range base32Alphabet {
				if byte(c) == k[i] {
					continue
				}
				typo := k[:i] + string(c) + k[i+1:]
				if _, err := masterkey.ParseRecoveryKey(typo); !errors.Is(err, masterkey.ErrRecoveryTypo) {
					t.Fatalf("ParseRecoveryKey(%s) with %q at %d = %v; want ErrRecoveryTypo", typo, c, i, err)
				}
			}
			if i+1 < len(k) && k[i] != k[i+1] { // swapped neighbours
				swapped := k[:i] + k[i+1:i+2] + k[i:i+1] + k[i+2:]
				if _, err := masterkey.ParseRecoveryKey(swapped); !errors.Is(err, masterkey.ErrRecoveryTypo) {
					t.Fatalf("ParseRecoveryKey(%s) with %d and %d swapped = %v; want ErrRecoveryTypo", swapped, i, i+1, err)
				}
			}
		}
	}
}

func TestRecoveryKeyMalformed(t *testing.T) {
	k := generate(t)
	tests := []struct{ in, msg string }{
		{k[:len(k)-1], "has 31 characters, want 32"},
		{k + "A", "has 33 characters, want 32"},
		{"", "has 0 characters"},
		{k[:5] + "9" + k[6:], `'9' in group 2`},
		{k[:1] + "!" + k[2:], `'!' in group 1`},
		{k[:len(k)-1] + "Z", "the recovery key has a typo: check each group"},
	}
	for _, tt := range tests {
		if tt.in == k { // the last character was already Z
			continue
		}
		_, err := masterkey.ParseRecoveryKey(tt.in)
		wantErr(t, "ParseRecoveryKey("+tt.in+")", err, masterkey.ErrRecoveryTypo, tt.msg)
	}
}

func recoveryOpts(key string, err error) masterkey.Options {
	return masterkey.Options{RecoveryKey: func(context.Context) (string, error) { return key, err }}
}

func TestRecoveryProvider(t *testing.T) {
	k := generate(t)
	root := secret.Random(32)
	blob := mustWrap(t, mustNew(t, "recovery", recoveryOpts(k, nil)), root)

	got, err := mustNew(t, "recovery", recoveryOpts(strings.ToLower(strings.ReplaceAll(k, "-", " ")), nil)).Unwrap(context.Background(), blob, testAD)
	if err != nil || !got.Equal(root) {
		t.Fatalf("Unwrap with the key typed leniently: %v", err)
	}

	missing := "no recovery key given: pass --recovery-key-file - to type it, or --recovery-key-file FILE"
	for _, opts := range []masterkey.Options{{}, recoveryOpts("", nil), recoveryOpts(" \n", nil)} {
		_, err := mustNew(t, "recovery", opts).Unwrap(context.Background(), blob, testAD)
		wantErr(t, "Unwrap without a key", err, masterkey.ErrUnavailable, missing)
		_, err = mustNew(t, "recovery", opts).Wrap(context.Background(), root, testAD)
		wantErr(t, "Wrap without a key", err, masterkey.ErrUnavailable, missing)
	}

	_, err = mustNew(t, "recovery", recoveryOpts(generate(t), nil)).Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap with another deployment's key", err, masterkey.ErrWrongKey, "recovery key printed when this deployment was initialised")

	_, err = mustNew(t, "recovery", recoveryOpts(k[:len(k)-1], nil)).Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap with a typo", err, masterkey.ErrRecoveryTypo, "has 31 characters")

	errPrompt := errors.New("prompt: no terminal")
	_, err = mustNew(t, "recovery", recoveryOpts("", errPrompt)).Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap when the prompt fails", err, errPrompt, "reading the recovery key")

	_, err = masterkey.New("recovery:x", masterkey.Options{})
	wantErr(t, "New(recovery:x)", err, masterkey.ErrBadSpec, "takes no argument")
}
