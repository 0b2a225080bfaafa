package keyring

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// DEK is one unwrapped data key version. It is owned by the keyring's
// cache: use it right away and do not keep it; an idle DEK is wiped.
type DEK struct {
	Version uint32
	AEAD    cipher.AEAD // AES-256-GCM under the key, for records
	key     *secret.Key

	lastUse  atomic.Int64 // unix nanos
	mu       sync.Mutex   // guards used/reserved/block
	used     uint64
	reserved uint64
	block    uint64 // next reservation size; grows with use
}

// firstReserveBlock is the size of a DEK's first reservation in a process.
const firstReserveBlock = 16

// Key returns the raw data key, for deriving per-attachment subkeys.
func (d *DEK) Key() *secret.Key { return d.key }

type dekID struct {
	db      string
	version uint32
}

// NewDatabaseKey makes version 1 of a new database's DEK, wrapped under the
// root key, ready for store.CreateDatabase.
func (k *Keyring) NewDatabaseKey(ctx context.Context, dbID string) (store.DataKey, error) {
	return k.newDataKey(dbID, 1, store.KeyPrimary)
}

func (k *Keyring) newDataKey(dbID string, version uint32, state store.KeyState) (store.DataKey, error) {
	dek := secret.Random(crypt.KeySize)
	defer dek.Wipe()
	return k.wrapDataKey(dbID, version, state, dek)
}

// Version returns the DEK of one version, for decrypting.
// ErrNoKey if the database has no such version.
func (k *Keyring) Version(ctx context.Context, dbID string, version uint32) (*DEK, error) {
	if d := k.cache.get(dekID{dbID, version}); d != nil {
		return d, nil
	}
	dk, err := k.storedKey(ctx, dbID, version)
	if err != nil {
		return nil, err
	}
	return k.load(ctx, dk)
}

// Encrypter returns the primary DEK of a database after counting one
// encryption against it. When the count reaches RotateAfter, a new primary
// version is made first.
func (k *Keyring) Encrypter(ctx context.Context, dbID string) (*DEK, error) {
	for range 3 {
		d, err := k.primary(ctx, dbID)
		if err != nil {
			return nil, err
		}
		ok, err := k.count(ctx, dbID, d)
		if err != nil {
			return nil, err
		}
		if ok {
			return d, nil
		}
		if err := k.rotate(ctx, dbID, d.Version); err != nil {
			return nil, err
		}
	}
	return nil, ErrKeyExhausted
}

// count takes one encryption from d's reservation, reserving another block
// in the store when needed. It returns false when d must be rotated.
func (k *Keyring) count(ctx context.Context, dbID string, d *DEK) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.used >= k.opts.RotateAfter {
		return false, nil
	}
	if d.used >= d.reserved {
		// Short-lived processes (one CLI command) reserve little; busy
		// ones double their block up to ReserveBlock.
		block := min(max(d.block, firstReserveBlock), k.opts.ReserveBlock)
		n, err := k.st.ReserveEncryptions(ctx, dbID, d.Version, block)
		if err != nil {
			return false, fmt.Errorf("keyring: reserve encryptions: %w", err)
		}
		// Another process may have reserved blocks too: everything below
		// n-block is someone else's.
		d.used = max(d.used, n-block)
		d.reserved = n
		d.block = block * 2
		if d.used >= k.opts.RotateAfter {
			return false, nil
		}
	}
	d.used++
	return true, nil
}

// rotate makes a new primary version after old, unless another writer has
// done so already.
func (k *Keyring) rotate(ctx context.Context, dbID string, old uint32) error {
	return k.WithRoot(ctx, func() error { return k.rotateHeld(ctx, dbID, old) })
}

func (k *Keyring) rotateHeld(ctx context.Context, dbID string, old uint32) error {
	keys, err := k.st.DataKeys(ctx, dbID)
	if err != nil {
		return err
	}
	latest := uint32(0)
	for _, dk := range keys {
		latest = max(latest, dk.Version)
		if dk.State == store.KeyPrimary && dk.Version != old {
			k.cache.forgetPrimary(dbID)
			return nil
		}
	}
	dk, err := k.newDataKey(dbID, latest+1, store.KeyPrimary)
	if err != nil {
		return err
	}
	if err := k.st.AddDataKey(ctx, dk); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("keyring: add a data key version: %w", err)
	}
	k.cache.forgetPrimary(dbID)
	return nil
}

func (k *Keyring) primary(ctx context.Context, dbID string) (*DEK, error) {
	if v, ok := k.cache.primaryVersion(dbID); ok {
		if d := k.cache.get(dekID{dbID, v}); d != nil {
			return d, nil
		}
	}
	gen := k.cache.generation()
	keys, err := k.st.DataKeys(ctx, dbID)
	if err != nil {
		return nil, err
	}
	for _, dk := range keys {
		if dk.State == store.KeyPrimary {
			d, err := k.load(ctx, dk)
			if err != nil {
				return nil, err
			}
			k.cache.setPrimary(dbID, dk.Version, gen)
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: database %s has no primary key", ErrNoKey, dbID)
}

// load returns the cached DEK of dk's version, or else unwraps dk and
// caches it (primary, for one, finds the key cached when only its "which
// version is primary" answer expired). A DEK that does not unwrap because
// another process rotated the root key (which re-wraps every DEK) is
// unwrapped again, as the store holds it now, under the new root key.
func (k *Keyring) load(ctx context.Context, dk store.DataKey) (*DEK, error) {
	if d := k.cache.get(dekID{dk.DatabaseID, dk.Version}); d != nil {
		return d, nil
	}
	key, used, err := k.unwrapHeld(dk)
	if errors.Is(err, crypt.ErrAuth) {
		key, err = k.unwrapAfterRotation(ctx, dk, used, err)
	}
	if err != nil {
		return nil, err
	}
	aead, err := crypt.NewAEAD(key)
	if err != nil {
		key.Wipe()
		return nil, err
	}
	d := &DEK{Version: dk.Version, AEAD: aead, key: key, used: dk.Encryptions, reserved: dk.Encryptions}
	return k.cache.put(dekID{dk.DatabaseID, dk.Version}, d), nil
}

// unwrapAfterRotation retries a data key that did not unwrap (with err)
// under the root key whose check value is used, if a root key rotation by
// another process explains it: the recorded root key is not the one used
// (this keyring still held the old one, or loaded the new one while dk,
// read before the rotation, was still wrapped under the old one), or the
// store holds other wrapped bytes for dk now. It then loads the current
// root key if this keyring lacks it (reload), reads dk again and unwraps
// it once more. Otherwise dk is damaged and err is returned.
func (k *Keyring) unwrapAfterRotation(ctx context.Context, dk store.DataKey, used []byte, err error) (*secret.Key, error) {
	m, merr := k.st.Meta(ctx)
	if merr != nil || len(m.RootCheck) == 0 {
		return nil, err
	}
	now, serr := k.storedKey(ctx, dk.DatabaseID, dk.Version)
	if serr != nil {
		return nil, serr
	}
	if bytes.Equal(m.RootCheck, used) && bytes.Equal(now.Wrapped, dk.Wrapped) {
		return nil, err
	}
	if rerr := k.reloadTo(ctx, m.RootCheck); rerr != nil {
		return nil, rerr
	}
	key, _, err := k.unwrapHeld(now)
	return key, err
}

// unwrapHeld unwraps dk under the root key, which it holds meanwhile, and
// returns the check value of the root key it used.
func (k *Keyring) unwrapHeld(dk store.DataKey) (key *secret.Key, rootCheck []byte, err error) {
	defer k.HoldRoot()()
	if _, rootCheck, err = k.rootAndCheck(); err != nil {
		return nil, nil, err
	}
	key, err = k.UnwrapDataKey(dk)
	return key, rootCheck, err
}

// storedKey reads one data key version from the store. ErrNoKey.
func (k *Keyring) storedKey(ctx context.Context, dbID string, version uint32) (store.DataKey, error) {
	keys, err := k.st.DataKeys(ctx, dbID)
	if err != nil {
		return store.DataKey{}, err
	}
	for _, dk := range keys {
		if dk.Version == version {
			return dk, nil
		}
	}
	return store.DataKey{}, fmt.Errorf("%w: database %s has no key version %d", ErrNoKey, dbID, version)
}

// UnwrapDataKey returns a copy of the raw key of a stored data key version,
// for an export or a comparison. The caller owns it and must Wipe it.
// ErrSealed while sealed; an error if the wrapped key does not open.
func (k *Keyring) UnwrapDataKey(dk store.DataKey) (*secret.Key, error) {
	root, err := k.rootKey()
	if err != nil {
		return nil, err
	}
	key, err := crypt.UnwrapKey(root, dk.Wrapped, dekAD(k.meta.DeploymentID, dk.DatabaseID, dk.Version))
	if err != nil {
		return nil, fmt.Errorf("keyring: data key %d of database %s does not unwrap (corrupted or tampered): %w", dk.Version, dk.DatabaseID, err)
	}
	return key, nil
}

// WrapDataKey wraps a raw data key (crypt.KeySize bytes) as version
// `version` of database dbID, under the root key, and returns it with the
// root key's check value, which the write that stores it must carry
// (store.KeyImport.Root; see WithRoot). It neither keeps nor wipes key.
// ErrSealed while sealed.
func (k *Keyring) WrapDataKey(dbID string, version uint32, key *secret.Key) (wrapped, root []byte, err error) {
	r, check, err := k.rootAndCheck()
	if err != nil {
		return nil, nil, err
	}
	wrapped, err = wrapDEK(r, k.meta.DeploymentID, dbID, version, key)
	return wrapped, check, err
}

// wrapDEK wraps a data key under root, bound to its deployment, database
// and version.
func wrapDEK(root *secret.Key, deployment, dbID string, version uint32, key *secret.Key) ([]byte, error) {
	if key == nil || key.Len() != crypt.KeySize {
		return nil, fmt.Errorf("keyring: database %s key version %d: a data key has %d bytes", dbID, version, crypt.KeySize)
	}
	return crypt.WrapKey(root, key, dekAD(deployment, dbID, version))
}

// Forget drops a cached data key version (its stored key was replaced or
// destroyed) and what the cache remembers of the database's primary
// version. The dropped key is wiped at the cache's next sweep, so a caller
// that fetched it just before never holds wiped memory.
func (k *Keyring) Forget(dbID string, version uint32) {
	k.cache.forget(dekID{dbID, version})
	k.cache.forgetPrimary(dbID)
}
