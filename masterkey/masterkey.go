package masterkey

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/secret"
)

// Provider protects the root key. Providers that yield a key-encryption key
// (file, exec, env, auto, recovery) and providers that only wrap and unwrap
// (TPM, HSM) meet this one interface.
//
// Both methods are safe for concurrent use. When ctx is already done they
// return an error that wraps ctx's error and do nothing else; a provider
// that waits on something outside the process (exec) also stops waiting
// when ctx is done.
type Provider interface {
	// Wrap returns a blob holding root, bound to ad. It may create the
	// provider's key material (auto and file: the key file). root must be
	// 32 bytes; Wrap neither keeps nor wipes it.
	//
	// Errors include those of Unwrap that concern the key source
	// (ErrUnavailable, ErrInsecure, ErrBadKeyFile, ErrRecoveryTypo,
	// *ExecError), and an error for a root key that is not 32 bytes.
	Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error)

	// Unwrap recovers the root key from a blob made by Wrap with the same
	// ad. The caller owns the returned key and should Wipe it.
	//
	// Errors (wrapped; test with errors.Is): ErrUnavailable (the key
	// source is missing: variable unset, file missing, no recovery key
	// supplied), ErrWrongKey (authentication failed: wrong passphrase or
	// key, or blob or ad tampered), ErrInsecure, ErrBadKeyFile, ErrFormat
	// (blob unreadable or of an unknown version), ErrRecoveryTypo, and
	// *ExecError.
	Unwrap(ctx context.Context, blob []byte, ad []byte) (*secret.Key, error)
}

// Options configures the providers made by [New]. The zero value is usable
// except for auto, which needs DeploymentID.
type Options struct {
	// DeploymentID names the deployment; auto uses it as the key file name
	// (<DeploymentID>.key). Letters, digits, '.', '_' and '-' only, not
	// starting with '.'.
	DeploymentID string

	// KeyDir is the directory of auto's key file. "" means $KEYWARD_KEY_DIR,
	// else $XDG_CONFIG_HOME/keyward, else $HOME/.config/keyward, each read
	// through Getenv.
	KeyDir string

	// Getenv reads environment variables; nil means os.LookupEnv. Tests
	// pass a map lookup.
	Getenv func(string) (string, bool)

	// RecoveryKey supplies the recovery key text for the recovery provider,
	// in Wrap (at init, with the freshly generated key) and in Unwrap. nil,
	// or a function that returns "", gives ErrUnavailable.
	RecoveryKey func(ctx context.Context) (string, error)

	// ExecTimeout bounds each run of exec's command; 0 or less means 10s.
	ExecTimeout time.Duration

	// KDF sets the Argon2id parameters env uses in Wrap; nil means
	// DefaultArgon2. Unwrap always uses the parameters stored in the blob,
	// so raising them later never locks out existing slots.
	KDF *Argon2Params
}

// DefaultExecTimeout is the exec timeout used when Options.ExecTimeout is 0.
const DefaultExecTimeout = 10 * time.Second

// withDefaults returns a copy of o with every default filled in. KDF is
// copied so that a caller changing its struct after New changes nothing.
func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.LookupEnv
	}
	if o.ExecTimeout <= 0 {
		o.ExecTimeout = DefaultExecTimeout
	}
	kdf := DefaultArgon2
	if o.KDF != nil {
		kdf = *o.KDF
	}
	o.KDF = &kdf
	return o
}

// Factory makes a provider from the part of its spec after the first ':'
// ("" when the spec has none). Options arrive with defaults filled in.
type Factory func(arg string, opts Options) (Provider, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a provider kind available to [New]. It is meant to be
// called from init. It panics if kind is already registered, if kind is not
// made of lower-case letters, digits and '-', or if f is nil: all three are
// programming mistakes.
func Register(kind string, f Factory) {
	if !validKind(kind) {
		panic(fmt.Sprintf("masterkey: Register: invalid kind %q", kind))
	}
	if f == nil {
		panic("masterkey: Register: nil factory for " + kind)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("masterkey: Register called twice for kind " + kind)
	}
	registry[kind] = f
}

// Kinds returns the registered provider kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Parse splits a provider spec "kind" or "kind:arg" at its first ':'. The
// kind must be non-empty and made of lower-case letters, digits and '-';
// the arg is returned as written. Parse does not check that kind is
// registered. Errors wrap ErrBadSpec.
func Parse(spec string) (kind, arg string, err error) {
	kind, arg, _ = strings.Cut(spec, ":")
	if kind == "" {
		return "", "", errf(ErrBadSpec,
			"masterkey: empty provider in spec %q; write kind or kind:arg, e.g. auto, file:/path/to/key or env:KEYWARD_PASSPHRASE", spec)
	}
	if !validKind(kind) {
		return "", "", errf(ErrBadSpec,
			"masterkey: invalid provider name %q in spec %q; known providers: %s", kind, spec, strings.Join(Kinds(), ", "))
	}
	return kind, arg, nil
}

// New makes the provider named by spec ("kind" or "kind:arg", see [Parse]).
// An unregistered kind gives ErrUnknownProvider, whose message lists the
// known kinds; a missing or malformed arg or option gives ErrBadSpec.
func New(spec string, opts Options) (Provider, error) {
	kind, arg, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	registryMu.RLock()
	f := registry[kind]
	registryMu.RUnlock()
	if f == nil {
		return nil, errf(ErrUnknownProvider,
			"masterkey: unknown provider %q; known providers: %s", kind, strings.Join(Kinds(), ", "))
	}
	return f(arg, opts.withDefaults())
}

func validKind(kind string) bool {
	if kind == "" {
		return false
	}
	for _, c := range kind {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ctxErr returns a wrapped ctx error when ctx is done, so that every
// provider honours an already cancelled context the same way.
func ctxErr(ctx context.Context, kind string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("masterkey: %s: %w", kind, err)
	}
	return nil
}
