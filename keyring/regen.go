package keyring

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// AddPrimary makes a new data key version of a database (one above the
// highest it has) and stores it as primary; the previous primary becomes
// active in the same transaction. This process writes with the new version
// from now on; other processes pick it up within primaryTTL (PrimaryTTL).
func (k *Keyring) AddPrimary(ctx context.Context, dbID string) (uint32, error) {
	return k.addPrimary(ctx, dbID, nil)
}

// AddPrimaryKey is AddPrimary with the given key material (a copy is
// wrapped; the caller keeps and wipes key) instead of a random key: to put
// a database's data under a key imported from an export.
func (k *Keyring) AddPrimaryKey(ctx context.Context, dbID string, key *secret.Key) (uint32, error) {
	if key == nil {
		return 0, fmt.Errorf("keyring: add primary data key: no key")
	}
	return k.addPrimary(ctx, dbID, key)
}

func (k *Keyring) addPrimary(ctx context.Context, dbID string, key *secret.Key) (uint32, error) {
	var v uint32
	err := k.WithRoot(ctx, func() error { // until the new key is stored: see RotateRoot
		var err error
		v, err = k.addPrimaryHeld(ctx, dbID, key)
		return err
	})
	return v, err
}

func (k *Keyring) addPrimaryHeld(ctx context.Context, dbID string, key *secret.Key) (uint32, error) {
	keys, err := k.st.DataKeys(ctx, dbID)
	if err != nil {
		return 0, err
	}
	latest := uint32(0)
	for _, dk := range keys {
		latest = max(latest, dk.Version)
	}
	if latest == 0 {
		return 0, fmt.Errorf("%w: database %s has no data key", ErrNoKey, dbID)
	}
	var dk store.DataKey
	if key == nil {
		dk, err = k.newDataKey(dbID, latest+1, store.KeyPrimary)
	} else {
		dk, err = k.wrapDataKey(dbID, latest+1, store.KeyPrimary, key)
	}
	if err != nil {
		return 0, err
	}
	if err := k.st.AddDataKey(ctx, dk); err != nil {
		return 0, fmt.Errorf("keyring: add primary data key: %w", err)
	}
	k.cache.forgetPrimary(dbID)
	return dk.Version, nil
}

// PrimaryTTL is how long another process may go on encrypting with the
// previous primary after AddPrimary: the time it trusts its cached answer
// to "which version is primary".
const PrimaryTTL = primaryTTL

// KeyCopy returns a copy of a data key version's raw key, for an export.
// The caller wipes it. ErrNoKey.
func (k *Keyring) KeyCopy(ctx context.Context, dbID string, version uint32) (*secret.Key, error) {
	d, err := k.Version(ctx, dbID, version)
	if err != nil {
		return nil, err
	}
	return d.key.Clone(), nil
}

// Reserve counts n encryptions against a data key version in the store at
// once (a re-encryption reserves a block before it encrypts; a crash can
// only over-count) and returns the key. ErrKeyExhausted when the count
// passes the rotation limit; ErrNoKey.
func (k *Keyring) Reserve(ctx context.Context, dbID string, version uint32, n uint64) (*DEK, error) {
	d, err := k.Version(ctx, dbID, version)
	if err != nil {
		return nil, err
	}
	total, err := k.st.ReserveEncryptions(ctx, dbID, version, n)
	if err != nil {
		return nil, fmt.Errorf("keyring: reserve encryptions: %w", err)
	}
	if total > k.opts.RotateAfter {
		return nil, fmt.Errorf("%w: database %s key version %d", ErrKeyExhausted, dbID, version)
	}
	return d, nil
}

// wrapDataKey wraps given key material as a data key version.
func (k *Keyring) wrapDataKey(dbID string, version uint32, state store.KeyState, key *secret.Key) (store.DataKey, error) {
	wrapped, check, err := k.WrapDataKey(dbID, version, key)
	if err != nil {
		return store.DataKey{}, err
	}
	return store.DataKey{DatabaseID: dbID, Version: version, State: state, Wrapped: wrapped, Created: time.Now().UTC(), Root: check}, nil
}
