package masterkey

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/secret"
)

func init() { Register("recovery", newRecoveryProvider) }

// Recovery key format: 16 random bytes and a 4-byte checksum (the first 4
// bytes of SHA-256 of the 16), 20 bytes in all, written as 32 characters of
// RFC 4648 base32 without padding, in 8 groups of 4 joined by '-'.
const (
	recoveryEntropySize  = 16
	recoveryChecksumSize = 4
	recoveryRawSize      = recoveryEntropySize + recoveryChecksumSize
	recoveryChars        = 32
	recoveryGroupSize    = 4
	recoveryHKDFInfo     = "keyward recovery v1"
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateRecoveryKey returns a new random recovery key, e.g.
// "I74I-BFAI-77CA-7I6Y-IPGO-UNXC-KGFG-MHCQ". Show it to the user once; it
// is the text that [ParseRecoveryKey] and the recovery provider take back.
// It holds 128 bits of entropy.
func GenerateRecoveryKey() (string, error) {
	raw := make([]byte, recoveryRawSize)
	defer clear(raw)
	if _, err := rand.Read(raw[:recoveryEntropySize]); err != nil {
		return "", fmt.Errorf("masterkey: reading random recovery key: %w", err)
	}
	sum := sha256.Sum256(raw[:recoveryEntropySize])
	copy(raw[recoveryEntropySize:], sum[:recoveryChecksumSize])
	clear(sum[:])
	enc := recoveryEncoding.EncodeToString(raw)
	var b strings.Builder
	for i := 0; i < len(enc); i += recoveryGroupSize {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(enc[i : i+recoveryGroupSize])
	}
	return b.String(), nil
}

// ParseRecoveryKey checks a recovery key as typed by a user and returns the
// KEK it stands for: HKDF-SHA256 of its 16 random bytes, with no salt and
// the info "keyward recovery v1".
//
// Parsing is lenient: case does not matter, spaces, tabs, newlines and
// dashes are ignored, and the digits that base32 lacks but people misread
// are mapped back ('0' to 'O', '1' to 'I', '8' to 'B'). Anything else that
// is not a recovery key, including a bad checksum, gives ErrRecoveryTypo.
func ParseRecoveryKey(s string) (*secret.Key, error) {
	chars := make([]byte, 0, recoveryChars)
	defer func() { clear(chars[:cap(chars)]) }()
	n := 0
	for _, r := range s {
		switch r {
		case ' ', '-', '\t', '\n', '\r':
			continue
		case '0':
			r = 'O'
		case '1':
			r = 'I'
		case '8':
			r = 'B'
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		if !('A' <= r && r <= 'Z' || '2' <= r && r <= '7') {
			return nil, errf(ErrRecoveryTypo,
				"masterkey: the recovery key has a typo: %q in group %d is not one of its characters (letters and the digits 2 to 7); check that group",
				r, n/recoveryGroupSize+1)
		}
		if n < recoveryChars {
			chars = append(chars, byte(r))
		}
		n++
	}
	if n != recoveryChars {
		return nil, errf(ErrRecoveryTypo,
			"masterkey: the recovery key has a typo: it has %d characters, want %d (8 groups of 4); check each group", n, recoveryChars)
	}
	raw := make([]byte, recoveryRawSize)
	defer clear(raw)
	if _, err := recoveryEncoding.Decode(raw, chars); err != nil {
		return nil, ErrRecoveryTypo // cannot happen for 32 valid characters
	}
	sum := sha256.Sum256(raw[:recoveryEntropySize])
	defer clear(sum[:])
	if subtle.ConstantTimeCompare(sum[:recoveryChecksumSize], raw[recoveryEntropySize:]) != 1 {
		return nil, ErrRecoveryTypo
	}
	kek, err := hkdf.Key(sha256.New, raw[:recoveryEntropySize], nil, recoveryHKDFInfo, keySize)
	if err != nil {
		return nil, fmt.Errorf("masterkey: deriving the recovery KEK: %w", err)
	}
	return secret.FromBytes(kek), nil
}

// recoveryProvider wraps the root key under the KEK of a recovery key
// supplied by Options.RecoveryKey.
type recoveryProvider struct {
	get func(ctx context.Context) (string, error)
}

var _ Provider = (*recoveryProvider)(nil)

func newRecoveryProvider(arg string, opts Options) (Provider, error) {
	if arg != "" {
		return nil, errf(ErrBadSpec, "masterkey: recovery takes no argument (got %q); supply the key through Options.RecoveryKey", arg)
	}
	return &recoveryProvider{get: opts.RecoveryKey}, nil
}

// Wrap wraps root under the recovery key that Options.RecoveryKey returns:
// at init, a function returning the key from GenerateRecoveryKey.
func (p *recoveryProvider) Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error) {
	if err := ctxErr(ctx, "recovery"); err != nil {
		return nil, err
	}
	kek, err := p.kek(ctx)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return sealKEK("recovery", kek, root, ad)
}

// Unwrap asks Options.RecoveryKey for the recovery key and opens blob.
// A mistyped key gives ErrRecoveryTypo; a well-formed key of another
// deployment gives ErrWrongKey.
func (p *recoveryProvider) Unwrap(ctx context.Context, blob, ad []byte) (*secret.Key, error) {
	if err := ctxErr(ctx, "recovery"); err != nil {
		return nil, err
	}
	if err := checkKEKBlob("recovery", blob); err != nil {
		return nil, err
	}
	kek, err := p.kek(ctx)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	root, err := openKEK("recovery", kek, blob, ad)
	if errors.Is(err, ErrWrongKey) {
		return nil, errf(ErrWrongKey,
			"masterkey: this recovery key does not open this deployment (it belongs to another deployment, was replaced, or the slot was altered); find the recovery key printed when this deployment was initialised")
	}
	return root, err
}

func (p *recoveryProvider) kek(ctx context.Context) (*secret.Key, error) {
	missing := errf(ErrUnavailable, "masterkey: no recovery key given: pass --recovery-key-file - to type it, or --recovery-key-file FILE")
	if p.get == nil {
		return nil, missing
	}
	s, err := p.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("masterkey: reading the recovery key: %w", err)
	}
	if strings.TrimSpace(s) == "" {
		return nil, missing
	}
	return ParseRecoveryKey(s)
}
