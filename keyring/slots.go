package keyring

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/store"
)

// Slots returns the stored slots in priority order.
func (k *Keyring) Slots(ctx context.Context) ([]store.Slot, error) {
	return k.st.Slots(ctx)
}

// AddSlot wraps the root key with the provider named by spec and stores it.
// priority 0 places it after the existing ordinary slots (before recovery).
// Adding a slot never touches data.
func (k *Keyring) AddSlot(ctx context.Context, spec string, priority int) (store.Slot, error) {
	if _, _, err := masterkey.Parse(spec); err != nil {
		return store.Slot{}, err
	}
	root, err := k.rootKey()
	if err != nil {
		return store.Slot{}, err
	}
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return store.Slot{}, err
	}
	for _, s := range slots {
		if s.Spec == spec {
			return store.Slot{}, fmt.Errorf("keyring: a slot for %q exists already (slot %d); remove it first to replace it", spec, s.ID)
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
		return store.Slot{}, fmt.Errorf("keyring: slot %q: %w", spec, err)
	}
	// Prove the new slot opens before anyone relies on it.
	got, err := unwrapSlot(ctx, spec, blob, k.meta.DeploymentID, k.opts.Sources)
	if err != nil {
		return store.Slot{}, fmt.Errorf("keyring: slot %q does not unwrap what it just wrapped: %w", spec, err)
	}
	same := got.Equal(root)
	got.Wipe()
	if !same {
		return store.Slot{}, errors.New("keyring: new slot unwrapped a different key; nothing was stored")
	}
	return k.st.AddSlot(ctx, store.Slot{Priority: priority, Spec: spec, Blob: blob})
}

// RemoveSlot deletes a slot, but only if another slot can unlock the root
// key right now (tried with the keyring's key sources): the last working way
// in is never removed. A *LastSlotError otherwise; store.ErrNotFound for an
// unknown id.
func (k *Keyring) RemoveSlot(ctx context.Context, id int64) error {
	root, err := k.rootKey()
	if err != nil {
		return err
	}
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(slots, func(s store.Slot) bool { return s.ID == id }) {
		return fmt.Errorf("keyring: slot %d: %w", id, store.ErrNotFound)
	}
	var reasons []error
	for _, s := range slots {
		if s.ID == id {
			continue
		}
		got, err := unwrapSlot(ctx, s.Spec, s.Blob, k.meta.DeploymentID, k.opts.Sources)
		if err != nil {
			reasons = append(reasons, fmt.Errorf("slot %d (%s): %w", s.ID, s.Spec, err))
			continue
		}
		ok := got.Equal(root)
		got.Wipe()
		if ok {
			return k.st.DeleteSlot(ctx, id)
		}
		reasons = append(reasons, fmt.Errorf("slot %d (%s): unwraps a different root key", s.ID, s.Spec))
	}
	return &LastSlotError{SlotID: id, Others: reasons}
}
