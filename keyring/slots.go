package keyring

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// Slots returns the stored slots in priority order.
func (k *Keyring) Slots(ctx context.Context) ([]store.Slot, error) {
	return k.st.Slots(ctx)
}

// AddSlot wraps the root key with the provider named by spec and stores it.
// priority 0 places it after the existing ordinary slots (before recovery).
// Adding a slot never touches data.
//
// If a slot with the same spec exists and still unlocks, AddSlot refuses.
// If it exists but cannot unlock now (say the auto key file was lost and
// the keyring was unlocked with the recovery key), the new slot replaces it
// and keeps its priority; the replaced slot's id is returned in Replaced.
func (k *Keyring) AddSlot(ctx context.Context, spec string, priority int) (Added, error) {
	if _, _, err := masterkey.Parse(spec); err != nil {
		return Added{}, err
	}
	var out Added
	err := k.WithRoot(ctx, func() error {
		var err error
		out, err = k.addSlotHeld(ctx, spec, priority)
		return err
	})
	return out, err
}

func (k *Keyring) addSlotHeld(ctx context.Context, spec string, priority int) (Added, error) {
	root, check, err := k.rootAndCheck()
	if err != nil {
		return Added{}, err
	}
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return Added{}, err
	}
	var replaced *store.Slot
	for _, s := range slots {
		if s.Spec != spec {
			continue
		}
		if err := k.slotOpens(ctx, s, root); err == nil {
			return Added{}, fmt.Errorf("keyring: slot %d already unlocks with %q; nothing to add", s.ID, spec)
		}
		replaced = &s
		if priority == 0 {
			priority = s.Priority
		}
	}
	if priority == 0 {
		priority = 10
		for _, s := range slots {
			if s.Priority < recoveryPriority && s.Priority >= priority {
				priority = s.Priority + 10
			}
		}
	}
	blob, err := wrapForSlot(ctx, spec, root, k.meta.DeploymentID, k.opts.Sources)
	if err != nil {
		return Added{}, fmt.Errorf("keyring: slot %q: %w", spec, err)
	}
	// Prove the new slot opens before anyone relies on it.
	if err := k.slotOpens(ctx, store.Slot{Spec: spec, Blob: blob}, root); err != nil {
		return Added{}, fmt.Errorf("keyring: slot %q does not unwrap what it just wrapped; nothing was stored: %w", spec, err)
	}
	added, err := k.st.AddSlot(ctx, store.Slot{Priority: priority, Spec: spec, Blob: blob, Root: check})
	if err != nil {
		return Added{}, err
	}
	out := Added{Slot: added}
	if replaced != nil {
		if err := k.st.DeleteSlot(ctx, replaced.ID, added.ID); err != nil {
			return out, fmt.Errorf("keyring: added slot %d but could not remove the broken slot %d it replaces: %w", added.ID, replaced.ID, err)
		}
		out.Replaced = replaced.ID
	}
	return out, nil
}

// Added is the result of AddSlot.
type Added struct {
	Slot     store.Slot
	Replaced int64 // id of the broken slot with the same spec that was removed, or 0
}

// slotOpens reports whether s unwraps to root with the keyring's sources.
func (k *Keyring) slotOpens(ctx context.Context, s store.Slot, root *secret.Key) error {
	return slotOpens(ctx, s, root, k.meta.DeploymentID, k.opts.Sources)
}

// slotOpens reports whether s unwraps to root with the sources src.
func slotOpens(ctx context.Context, s store.Slot, root *secret.Key, deployment string, src masterkey.Options) error {
	got, err := unwrapSlot(ctx, s.Spec, s.Blob, deployment, src)
	if err != nil {
		return err
	}
	defer got.Wipe()
	if !got.Equal(root) {
		return errors.New("unwraps a different root key")
	}
	return nil
}

// RemoveSlot deletes a slot, but only if another slot can unlock the root
// key right now (tried with the keyring's key sources): the last working way
// in is never removed. The store deletes it only if that other slot still
// exists at that moment, so two processes removing each other's slot
// cannot both succeed; the one that loses looks again. A *LastSlotError
// otherwise; store.ErrNotFound for an unknown id.
func (k *Keyring) RemoveSlot(ctx context.Context, id int64) error {
	defer k.HoldRoot()()
	root, err := k.rootKey()
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		keep, err := k.slotToKeep(ctx, id, root)
		if err != nil {
			return err
		}
		err = k.st.DeleteSlot(ctx, id, keep)
		if !errors.Is(err, store.ErrConflict) || attempt == maxSlotAttempts {
			return err
		}
	}
}

// maxSlotAttempts bounds how often RemoveSlot looks again when the slot it
// found able to unlock was removed meanwhile.
const maxSlotAttempts = 3

// slotToKeep returns the first slot other than id that opens root.
func (k *Keyring) slotToKeep(ctx context.Context, id int64, root *secret.Key) (int64, error) {
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return 0, err
	}
	if !slices.ContainsFunc(slots, func(s store.Slot) bool { return s.ID == id }) {
		return 0, fmt.Errorf("keyring: slot %d: %w", id, store.ErrNotFound)
	}
	var reasons []error
	for _, s := range slots {
		if s.ID == id {
			continue
		}
		if err := k.slotOpens(ctx, s, root); err != nil {
			reasons = append(reasons, fmt.Errorf("slot %d (%s): %w", s.ID, s.Spec, err))
			continue
		}
		return s.ID, nil
	}
	return 0, &LastSlotError{SlotID: id, Others: reasons}
}
