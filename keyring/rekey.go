package keyring

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// ClearDataKey is a stored data key version with its raw key, obtained
// elsewhere (a key export), to be wrapped under a new root key.
type ClearDataKey struct {
	Stored store.DataKey // as read from the store; its Wrapped is replaced
	Key    *secret.Key   // crypt.KeySize bytes; Rekey neither keeps nor wipes it
}

// Rekey gives a deployment a new root key when none of its slots can
// unlock the old one any more (the data directory moved to a machine
// without its key files): it wraps a new random root key for each spec (in
// that order of priority; default "auto") and for a new recovery slot,
// wraps every data key in keys under it, and replaces all the slots and
// wrapped data keys in one store transaction. keys must hold every data key
// version the store holds (store.ErrConflict otherwise, and nothing
// changes); the caller must have checked that each raw key is the right
// one, since the old wrapped keys are gone afterwards. Every new slot is
// unwrapped once before anything is stored. It returns the new recovery
// key, which is shown to the user once and stored nowhere.
//
// A process that still holds the old root key cannot store keys wrapped
// under it afterwards: the new slots carry the new root key's check value
// (see WithRoot).
func Rekey(ctx context.Context, st store.Store, specs []string, sources masterkey.Options, keys []ClearDataKey) (recoveryKey string, err error) {
	m, err := st.Meta(ctx)
	if err != nil {
		return "", err
	}
	root := secret.Random(crypt.KeySize)
	defer root.Wipe()
	slots, recoveryKey, err := newSlots(ctx, root, m.DeploymentID, specs, sources)
	if err != nil {
		return "", err
	}
	rootCheck := rootCheckOf(root)
	for i := range slots {
		slots[i].Root = rootCheck
	}
	check := sources
	check.DeploymentID = m.DeploymentID
	check.RecoveryKey = func(context.Context) (string, error) { return recoveryKey, nil }
	for _, s := range slots {
		if err := slotOpens(ctx, s, root, m.DeploymentID, check); err != nil {
			return "", fmt.Errorf("keyring: new slot %q does not unwrap what it just wrapped; nothing was changed: %w", s.Spec, err)
		}
	}
	rewrapped := make([]store.RewrappedKey, len(keys))
	for i, ck := range keys {
		w, err := wrapDEK(root, m.DeploymentID, ck.Stored.DatabaseID, ck.Stored.Version, ck.Key)
		if err != nil {
			return "", err
		}
		rewrapped[i] = store.RewrappedKey{DatabaseID: ck.Stored.DatabaseID, Version: ck.Stored.Version, Old: ck.Stored.Wrapped, New: w}
	}
	if err := st.ReplaceRootKey(ctx, slots, rewrapped); err != nil {
		return "", fmt.Errorf("keyring: replace the root key: %w", err)
	}
	return recoveryKey, nil
}
