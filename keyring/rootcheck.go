package keyring

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// The root key check (package store, "Root key check"): every wrapped key
// the keyring stores carries the check value of the root key it was
// wrapped under, and the store refuses it once another process has rotated
// the root key. The keyring then loads the new root key from its slots
// (reload) and wraps again; a data key that no longer unwraps is retried
// the same way, since a rotation re-wraps every data key.

// ErrRootRotated means another process rotated the root key and this
// keyring cannot load the new one with its key sources.
var ErrRootRotated = errors.New("keyring: the root key was rotated by another process")

// rootCheckSize is the length of a root check value.
const rootCheckSize = 16

// rootCheckOf is the check value of a root key: the first 16 bytes of
// HMAC-SHA256(root, "keyward root key check v1"). It identifies the key
// and reveals nothing usable about it.
func rootCheckOf(root *secret.Key) []byte {
	m := hmac.New(sha256.New, root.UnsafeBytes())
	m.Write([]byte("keyward root key check v1"))
	return m.Sum(nil)[:rootCheckSize]
}

// setRootLocked installs root (nil: sealed) and its check value, and
// returns the previous root key for the caller to wipe. k.mu must be held.
func (k *Keyring) setRootLocked(root *secret.Key) (old *secret.Key) {
	old = k.root
	k.root, k.check = root, nil
	if root != nil {
		k.check = rootCheckOf(root)
	}
	return old
}

// rootAndCheck returns the root key and its check value, or ErrSealed.
func (k *Keyring) rootAndCheck() (*secret.Key, []byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.root == nil {
		return nil, nil, ErrSealed
	}
	return k.root, k.check, nil
}

// WithRoot runs fn while the root key cannot be rotated in this process
// (see HoldRoot): fn wraps keys under it and stores them. If the store
// refuses the write because another process rotated the root key
// (store.ErrRootChanged), WithRoot loads the new root key and runs fn once
// more, so fn must wrap again each time it runs.
func (k *Keyring) WithRoot(ctx context.Context, fn func() error) error {
	err := k.held(fn)
	if !errors.Is(err, store.ErrRootChanged) {
		return err
	}
	if rerr := k.reload(ctx); rerr != nil {
		return rerr
	}
	return k.held(fn)
}

func (k *Keyring) held(fn func() error) error {
	defer k.HoldRoot()()
	return fn()
}

// reload loads the current root key if another process rotated it (see
// reloadTo), reading the recorded check value first.
func (k *Keyring) reload(ctx context.Context) error {
	m, err := k.st.Meta(ctx)
	if err != nil {
		return fmt.Errorf("keyring: reload the root key: %w", err)
	}
	return k.reloadTo(ctx, m.RootCheck)
}

// reloadTo loads the root key whose check value is recorded, the one the
// caller just read from the store's meta: it tries the slots (the one that
// unlocked this keyring first) with the keyring's key sources. It does
// nothing if recorded is empty or this keyring's. Cached data keys stay: a
// rotation does not change them.
func (k *Keyring) reloadTo(ctx context.Context, recorded []byte) error {
	k.rotMu.Lock()
	defer k.rotMu.Unlock()
	_, cur, err := k.rootAndCheck()
	if err != nil {
		return err
	}
	if len(recorded) == 0 || bytes.Equal(recorded, cur) {
		return nil
	}
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return fmt.Errorf("keyring: reload the root key: %w", err)
	}
	src := k.opts.Sources
	src.DeploymentID = k.meta.DeploymentID
	first := ""
	if a, ok := k.UnlockedBy(); ok {
		first = a.Spec
	}
	var tried []string
	for pass := range 2 {
		for _, s := range slots {
			if (pass == 0) != (s.Spec == first) {
				continue
			}
			root, err := unwrapSlot(ctx, s.Spec, s.Blob, k.meta.DeploymentID, src)
			if err != nil {
				tried = append(tried, fmt.Sprintf("slot %d (%s): %v", s.ID, s.Spec, err))
				continue
			}
			if !bytes.Equal(rootCheckOf(root), recorded) {
				root.Wipe()
				tried = append(tried, fmt.Sprintf("slot %d (%s): opens another root key than the current one", s.ID, s.Spec))
				continue
			}
			k.mu.Lock()
			old := k.setRootLocked(root)
			k.mu.Unlock()
			old.Wipe() // nobody holds it: rotMu is ours
			return nil
		}
	}
	return fmt.Errorf("%w, and none of this process's key sources opens the new one (%s); restart this process, or unlock it with a slot that does",
		ErrRootRotated, cmp.Or(strings.Join(tried, "; "), "no slots"))
}
