package masterkey_test

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/fuzzseed"
	"github.com/keyward/keyward/masterkey"
)

var kindSyntax = regexp.MustCompile(`^[a-z0-9-]+$`)

// FuzzParse checks that Parse splits a spec at its first ':' into a kind
// of lower-case letters, digits and '-' and the arg as written, and that
// every error wraps ErrBadSpec.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzseed.Lines(f, "specs.txt") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		kind, arg, err := masterkey.Parse(spec)
		if err != nil {
			if kind != "" || arg != "" || !errors.Is(err, masterkey.ErrBadSpec) {
				t.Fatalf("Parse(%q) = %q, %q, %v; want ErrBadSpec and nothing else", spec, kind, arg, err)
			}
			return
		}
		joined := kind
		if strings.Contains(spec, ":") {
			joined += ":" + arg
		}
		if !kindSyntax.MatchString(kind) || strings.Contains(kind, ":") || joined != spec {
			t.Fatalf("Parse(%q) = %q, %q", spec, kind, arg)
		}
	})
}

// FuzzParseRecoveryKey checks that ParseRecoveryKey returns a 32-byte key
// or ErrRecoveryTypo, that an error never quotes the key typed, and that
// an accepted key, rewritten in the canonical form (upper case, groups of
// four joined by '-'), gives the same KEK.
func FuzzParseRecoveryKey(f *testing.F) {
	for _, s := range fuzzseed.Lines(f, "recovery_keys.txt") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := masterkey.ParseRecoveryKey(s)
		if err != nil {
			if k != nil || !errors.Is(err, masterkey.ErrRecoveryTypo) {
				t.Fatalf("ParseRecoveryKey(%q) = %v, %v; want ErrRecoveryTypo", s, k, err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("ParseRecoveryKey(%q): error %q quotes the key", s, err)
			}
			return
		}
		defer k.Wipe()
		if k.Len() != 32 {
			t.Fatalf("ParseRecoveryKey(%q) returned a %d-byte key", s, k.Len())
		}
		canon := canonicalRecoveryKey(s)
		k2, err := masterkey.ParseRecoveryKey(canon)
		if err != nil || !k2.Equal(k) {
			t.Fatalf("ParseRecoveryKey(%q) and ParseRecoveryKey(%q) differ: %v", s, canon, err)
		}
		k2.Wipe()
	})
}

// canonicalRecoveryKey rewrites an accepted recovery key the way
// GenerateRecoveryKey prints one.
func canonicalRecoveryKey(s string) string {
	var chars []byte
	for _, c := range strings.ToUpper(s) {
		switch c {
		case ' ', '-', '\t', '\n', '\r':
			continue
		case '0':
			c = 'O'
		case '1':
			c = 'I'
		case '8':
			c = 'B'
		}
		chars = append(chars, byte(c))
	}
	var groups []string
	for i := 0; i+4 <= len(chars); i += 4 {
		groups = append(groups, string(chars[i:i+4]))
	}
	return strings.Join(groups, "-")
}

// execReason is every reason parseExecOutput gives: none quotes the output.
var execReason = regexp.MustCompile(`^(printed nothing|printed a base64 line that decodes to [0-9]+ bytes|printed [0-9]+ bytes)$`)

// FuzzParseExecOutput checks that the output of an exec provider gives a
// 32-byte key or a reason that does not quote the output, and that a key
// read from base64 is the key that base64 of it reads back.
func FuzzParseExecOutput(f *testing.F) {
	for _, b := range fuzzseed.Files(f, "exec_output/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		k, reason := masterkey.ParseExecOutput(out)
		switch {
		case k == nil && !execReason.MatchString(reason):
			t.Fatalf("no key and reason %q, want one of %v", reason, execReason)
		case k == nil:
			return
		case k.Len() != 32 || reason != "":
			t.Fatalf("key of %d bytes with reason %q", k.Len(), reason)
		}
		defer k.Wipe()
		if len(out) == 32 {
			if string(k.UnsafeBytes()) != string(out) {
				t.Fatal("32 raw bytes read as another key")
			}
			return
		}
		k2, _ := masterkey.ParseExecOutput([]byte(base64.StdEncoding.EncodeToString(k.UnsafeBytes()) + "\n"))
		if k2 == nil || !k2.Equal(k) {
			t.Fatalf("output %q: its key printed in base64 reads as another key", out)
		}
		k2.Wipe()
	})
}
