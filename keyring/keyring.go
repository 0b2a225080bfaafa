// Package keyring holds keyward's key hierarchy at run time:
//
//	slot KEK (from a masterkey.Provider) ──wraps──▶ root key ──wraps──▶ data keys (per database, versioned)
//
// A Keyring starts sealed. Unlock tries the slots in priority order; the first
// whose provider unwraps the root key wins, and the reason every other slot
// failed is kept for status. While unlocked, the root key lives in guarded
// memory; data keys (DEKs) are unwrapped on demand and cached with an idle
// timeout, after which they are wiped. Seal wipes everything.
//
// Every DEK version counts its encryptions in the store before it uses them
// (in reserved blocks, so a crash can only over-count). When the primary
// version reaches RotateAfter encryptions, a new primary version is created,
// long before the 2^32 random-nonce limit of AES-GCM (NIST SP 800-38D).
package keyring

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// Options tune a Keyring. The zero value is usable.
type Options struct {
	// Sources tells providers where to find their key material (key dir,
	// environment, recovery key, exec timeout, KDF parameters for new slots).
	Sources masterkey.Options
	// CacheIdle is how long an unused DEK stays unwrapped (default 5 min).
	CacheIdle time.Duration
	// RotateAfter is the encryption count at which a new primary DEK is
	// made (default 1<<30; the hard limit is 1<<31).
	RotateAfter uint64
	// ReserveBlock is how many encryptions are reserved in the store at a
	// time (default 4096).
	ReserveBlock uint64
}

const (
	defaultCacheIdle    = 5 * time.Minute
	defaultRotateAfter  = 1 << 30
	hardEncryptionLimit = 1 << 31
	defaultReserveBlock = 4096
	recoverySpec        = "recovery"
)

// Keyring is the unlocked (or sealed) key hierarchy of one deployment.
type Keyring struct {
	st   store.Store
	opts Options
	meta store.Meta

	mu       sync.RWMutex
	root     *secret.Key // nil while sealed
	check    []byte      // root's check value (rootcheck.go)
	unlocked *Attempt    // the slot that unlocked
	attempts []Attempt   // the last unlock's attempts

	cache *dekCache

	// rotMu is held for reading by whatever uses the root key and must not
	// overlap a root rotation (unwrapping a DEK, wrapping a new DEK or slot
	// until it is stored), and for writing by RotateRoot.
	rotMu sync.RWMutex
}

// HoldRoot keeps the root key from being rotated until release is called.
// Hold it from NewDatabaseKey until the key is stored: a DEK wrapped under
// a root key that a rotation replaces before the DEK is stored would be
// unreadable.
func (k *Keyring) HoldRoot() (release func()) {
	k.rotMu.RLock()
	return k.rotMu.RUnlock
}

// Open returns the keyring of an initialised store, sealed.
// store.ErrNotInitialized if Init never ran on it.
func Open(ctx context.Context, st store.Store, opts Options) (*Keyring, error) {
	m, err := st.Meta(ctx)
	if err != nil {
		return nil, err
	}
	if opts.CacheIdle <= 0 {
		opts.CacheIdle = defaultCacheIdle
	}
	if opts.RotateAfter == 0 || opts.RotateAfter > hardEncryptionLimit {
		opts.RotateAfter = defaultRotateAfter
	}
	if opts.ReserveBlock == 0 {
		opts.ReserveBlock = defaultReserveBlock
	}
	opts.Sources.DeploymentID = m.DeploymentID
	k := &Keyring{st: st, opts: opts, meta: m}
	k.cache = newDEKCache(k)
	return k, nil
}

// Init creates a deployment in an empty store: a random deployment id and
// root key, one slot per spec (in the order given, which is their priority),
// and a recovery slot tried last. It returns the recovery key, which is
// shown to the user once and stored nowhere. The keyring is not returned:
// Open and Unlock it like any other.
func Init(ctx context.Context, st store.Store, specs []string, sources masterkey.Options) (recoveryKey string, err error) {
	if _, err := st.Meta(ctx); err == nil {
		return "", store.ErrAlreadyInitialized
	}
	id := make([]byte, 16)
	randRead(id)
	meta := store.Meta{DeploymentID: hex.EncodeToString(id), Created: time.Now().UTC()}

	root := secret.Random(crypt.KeySize)
	defer root.Wipe()
	meta.RootCheck = rootCheckOf(root)
	slots, recoveryKey, err := newSlots(ctx, root, meta.DeploymentID, specs, sources)
	if err != nil {
		return "", err
	}
	if err := st.Init(ctx, meta, slots); err != nil {
		return "", err
	}
	return recoveryKey, nil
}

// newSlots wraps root for each spec, in that order of priority, and for a
// new recovery slot tried last. It returns the slots and the new recovery
// key.
func newSlots(ctx context.Context, root *secret.Key, deployment string, specs []string, sources masterkey.Options) ([]store.Slot, string, error) {
	if len(specs) == 0 {
		specs = []string{"auto"}
	}
	recoveryKey, err := masterkey.GenerateRecoveryKey()
	if err != nil {
		return nil, "", err
	}
	sources.DeploymentID = deployment
	sources.RecoveryKey = func(context.Context) (string, error) { return recoveryKey, nil }
	var slots []store.Slot
	for i, spec := range slices.Concat(specs, []string{recoverySpec}) {
		if spec == recoverySpec && i < len(specs) {
			return nil, "", fmt.Errorf("keyring: a recovery slot is always made; leave it out of --master-key")
		}
		blob, err := wrapForSlot(ctx, spec, root, deployment, sources)
		if err != nil {
			return nil, "", fmt.Errorf("keyring: slot %q: %w", spec, err)
		}
		prio := (i + 1) * 10
		if spec == recoverySpec {
			prio = recoveryPriority
		}
		slots = append(slots, store.Slot{Priority: prio, Spec: spec, Blob: blob})
	}
	return slots, recoveryKey, nil
}

// recoveryPriority puts the recovery slot after every ordinary slot.
const recoveryPriority = 1 << 20

// DeploymentID returns the deployment's id.
func (k *Keyring) DeploymentID() string { return k.meta.DeploymentID }

// Sealed reports whether the root key is unavailable.
func (k *Keyring) Sealed() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.root == nil
}

// Seal wipes the root key and every cached DEK.
func (k *Keyring) Seal() {
	k.mu.Lock()
	root := k.setRootLocked(nil)
	k.unlocked = nil
	k.mu.Unlock()
	k.cache.purge()
	root.Wipe()
}

// Close seals the keyring and stops its background work. It does not close
// the store.
func (k *Keyring) Close() {
	k.Seal()
	k.cache.stop()
}

// rootKey returns the root key or ErrSealed. The key stays owned by k.
func (k *Keyring) rootKey() (*secret.Key, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.root == nil {
		return nil, ErrSealed
	}
	return k.root, nil
}

// slotAD binds a wrapped root key to its deployment and provider spec.
func slotAD(deployment, spec string) []byte {
	return crypt.Context{Deployment: deployment, Purpose: "root", Record: "slot:" + spec}.AD()
}

// dekAD binds a wrapped DEK to its deployment, database and version.
func dekAD(deployment, dbID string, version uint32) []byte {
	return crypt.Context{Deployment: deployment, Database: dbID, Purpose: "dek", Record: fmt.Sprintf("v%d", version)}.AD()
}

func wrapForSlot(ctx context.Context, spec string, root *secret.Key, deployment string, src masterkey.Options) ([]byte, error) {
	p, err := masterkey.New(spec, src)
	if err != nil {
		return nil, err
	}
	return p.Wrap(ctx, root, slotAD(deployment, spec))
}
