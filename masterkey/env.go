package masterkey

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keyward/keyward/secret"
)

func init() { Register("env", newEnvProvider) }

// Argon2Params are the Argon2id cost parameters of the env provider.
type Argon2Params struct {
	// Time is the number of passes over memory (1 to 100).
	Time uint32
	// MemoryKiB is the memory used, in KiB (8×Threads to 4 GiB).
	MemoryKiB uint32
	// Threads is the degree of parallelism (at least 1).
	Threads uint8
}

// DefaultArgon2 are the parameters env uses in Wrap unless Options.KDF is
// set: RFC 9106's second recommended option (t=3, 64 MiB, 4 lanes); about
// 0.5 s on a 2-core VM.
var DefaultArgon2 = Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Bounds on Argon2 parameters. Unwrap refuses a blob outside them with
// ErrFormat rather than allocating what a damaged or hostile slot asks for.
const (
	maxArgon2Time      = 100
	maxArgon2MemoryKiB = 4 << 20 // 4 GiB
)

// validate reports whether p is within the bounds above.
func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("time %d is outside 1..%d", p.Time, maxArgon2Time)
	case p.Threads < 1:
		return errors.New("threads is 0")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("memory %d KiB is outside %d KiB..4 GiB", p.MemoryKiB, 8*uint32(p.Threads))
	}
	return nil
}

// Layout of an env blob; see the package documentation.
const (
	envBlobVersion = 1
	envSaltSize    = 16
	envHeaderSize  = 1 + 4 + 4 + 1 + envSaltSize
	envBlobSize    = envHeaderSize + sealedSize
)

// envProvider derives its KEK from a passphrase held in an environment
// variable, with Argon2id.
type envProvider struct {
	name   string
	getenv func(string) (string, bool)
	kdf    Argon2Params
}

var _ Provider = (*envProvider)(nil)

func newEnvProvider(arg string, opts Options) (Provider, error) {
	if arg == "" || strings.ContainsAny(arg, "=\x00") {
		return nil, errf(ErrBadSpec, "masterkey: env needs the name of a variable holding the passphrase: write env:VAR, e.g. env:KEYWARD_PASSPHRASE (got %q)", arg)
	}
	if err := opts.KDF.validate(); err != nil {
		return nil, errf(ErrBadSpec, "masterkey: env: Options.KDF: %v; use masterkey.DefaultArgon2", err)
	}
	return &envProvider{name: arg, getenv: opts.Getenv, kdf: *opts.KDF}, nil
}

// Wrap derives a KEK from the passphrase with a fresh random salt and the
// configured parameters, and stores both in the blob.
func (p *envProvider) Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error) {
	if err := ctxErr(ctx, "env"); err != nil {
		return nil, err
	}
	salt := make([]byte, envSaltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("masterkey: reading random salt: %w", err)
	}
	nonce, err := randomNonce()
	if err != nil {
		return nil, err
	}
	return p.wrapWith(root, ad, salt, nonce)
}

// wrapWith is Wrap with the random salt and nonce as parameters.
func (p *envProvider) wrapWith(root *secret.Key, ad, salt, nonce []byte) ([]byte, error) {
	header := make([]byte, 0, envHeaderSize)
	header = append(header, envBlobVersion)
	header = binary.BigEndian.AppendUint32(header, p.kdf.Time)
	header = binary.BigEndian.AppendUint32(header, p.kdf.MemoryKiB)
	header = append(header, p.kdf.Threads)
	header = append(header, salt...)
	kek, err := p.deriveKEK(p.kdf, salt)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return seal("env", kek, header, nonce, root, ad)
}

// Unwrap derives the KEK with the parameters and salt stored in blob,
// whatever Options.KDF says, and opens blob.
func (p *envProvider) Unwrap(ctx context.Context, blob, ad []byte) (*secret.Key, error) {
	if err := ctxErr(ctx, "env"); err != nil {
		return nil, err
	}
	params, salt, err := parseEnvHeader(blob)
	if err != nil {
		return nil, err
	}
	kek, err := p.deriveKEK(params, salt)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	root, err := open("env", kek, blob[:envHeaderSize], blob[envHeaderSize:], ad)
	if errors.Is(err, ErrWrongKey) {
		return nil, errf(ErrWrongKey,
			"masterkey: the passphrase in %s does not open this slot (a wrong passphrase, or a slot altered or copied from another deployment); check %s, or unlock with the recovery key",
			p.name, p.name)
	}
	return root, err
}

func parseEnvHeader(blob []byte) (Argon2Params, []byte, error) {
	if err := checkVersion("env", blob, envBlobVersion); err != nil {
		return Argon2Params{}, nil, err
	}
	if len(blob) != envBlobSize {
		return Argon2Params{}, nil, blobSizeError("env", len(blob), envBlobSize)
	}
	params := Argon2Params{
		Time:      binary.BigEndian.Uint32(blob[1:5]),
		MemoryKiB: binary.BigEndian.Uint32(blob[5:9]),
		Threads:   blob[9],
	}
	if err := params.validate(); err != nil {
		return Argon2Params{}, nil, errf(ErrFormat,
			"masterkey: the env slot asks for absurd Argon2 parameters (%v): it is damaged or was tampered with; unlock with another slot, then remove and re-add it", err)
	}
	return params, blob[10:envHeaderSize], nil
}

// deriveKEK reads the passphrase and runs Argon2id. The passphrase arrives
// as a Go string, which cannot be wiped; the byte copy made here is.
func (p *envProvider) deriveKEK(params Argon2Params, salt []byte) (*secret.Key, error) {
	v, ok := p.getenv(p.name)
	if !ok || v == "" {
		state := "is not set"
		if ok {
			state = "is empty"
		}
		return nil, errf(ErrUnavailable,
			"masterkey: environment variable %s %s; set %s to the passphrase, or unlock with the recovery key", p.name, state, p.name)
	}
	pass := []byte(v)
	defer clear(pass)
	k := argon2.IDKey(pass, salt, params.Time, params.MemoryKiB, params.Threads, keySize)
	return secret.FromBytes(k), nil
}
