package keyring

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/keyward/keyward/store"
)

// hookStore runs a hook once, at a chosen read, so that a test can put
// another goroutine's work at an exact point of the keyring's.
type hookStore struct {
	store.Store
	afterDataKeys    func()
	beforeMeta       func()
	beforeDeleteSlot func()
}

func (s *hookStore) DeleteSlot(ctx context.Context, id, keep int64) error {
	if f := s.beforeDeleteSlot; f != nil {
		s.beforeDeleteSlot = nil
		f()
	}
	return s.Store.DeleteSlot(ctx, id, keep)
}

func (s *hookStore) DataKeys(ctx context.Context, dbID string) ([]store.DataKey, error) {
	keys, err := s.Store.DataKeys(ctx, dbID)
	if f := s.afterDataKeys; f != nil {
		s.afterDataKeys = nil
		f()
	}
	return keys, err
}

func (s *hookStore) Meta(ctx context.Context) (store.Meta, error) {
	if f := s.beforeMeta; f != nil {
		s.beforeMeta = nil
		f()
	}
	return s.Store.Meta(ctx)
}

// rotationPair returns keyring a, which made database "db", and keyring b,
// another process on the same store seen through a hookStore, both
// unlocked by the same auto slot.
func rotationPair(t *testing.T) (a, b *Keyring, hs *hookStore) {
	t.Helper()
	ctx := context.Background()
	src := sources(t, env{})
	a, st, _ := newKeyring(t, nil, src, Options{})
	createDB(t, a, st, "db")
	hs = &hookStore{Store: st}
	b, err := Open(ctx, hs, Options{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if _, err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b, hs
}

func rotate(t *testing.T, k *Keyring) {
	t.Helper()
	// The recovery slot cannot wrap the new root key without the recovery
	// key: drop it, the auto slot stays.
	if _, err := k.RotateRoot(context.Background(), RotateOptions{DropUnavailable: true}); err != nil {
		t.Fatal(err)
	}
}

// B still holds the old root key when it unwraps a data key A re-wrapped;
// before B looks at the recorded root key, another of B's goroutines has
// loaded the new one. The key must still load: it only needs unwrapping
// again (it used to fail as a damaged key).
func TestLoadAfterAnotherGoroutineReloaded(t *testing.T) {
	ctx := context.Background()
	a, b, hs := rotationPair(t)
	rotate(t, a)
	hs.beforeMeta = func() {
		if err := b.reload(ctx); err != nil {
			t.Errorf("reload: %v", err)
		}
	}
	if _, err := b.Version(ctx, "db", 1); err != nil {
		t.Fatalf("Version after a concurrent reload: %v", err)
	}
	if hs.beforeMeta != nil {
		t.Fatal("the hook did not run: the test no longer tests the race")
	}
}

// B reads a data key still wrapped under the old root key; before it
// unwraps it, A rotates and B loads the new root key. The unwrap fails
// under the new root key, which is the recorded one; the store holds other
// bytes for the key now, and B must retry with those.
func TestLoadKeyReadBeforeRotation(t *testing.T) {
	ctx := context.Background()
	a, b, hs := rotationPair(t)
	hs.afterDataKeys = func() {
		rotate(t, a)
		if err := b.reload(ctx); err != nil {
			t.Errorf("reload: %v", err)
		}
	}
	if _, err := b.Version(ctx, "db", 1); err != nil {
		t.Fatalf("Version of a key read before the rotation: %v", err)
	}
	if hs.afterDataKeys != nil {
		t.Fatal("the hook did not run: the test no longer tests the race")
	}
}

// Two processes remove each other's slot at the same time, each having
// found the other's slot able to unlock. Only one may succeed: the other
// looks again, finds no other slot it can open, and removes nothing.
func TestRemoveSlotRace(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{"PASS": "correct horse"})
	a, st, _ := newKeyring(t, []string{"auto", "env:PASS"}, src, Options{})
	ids := map[string]int64{}
	slots, _ := st.Slots(ctx)
	for _, s := range slots {
		ids[s.Spec] = s.ID
	}
	hs := &hookStore{Store: st}
	b, err := Open(ctx, hs, Options{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if _, err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	// B has found env:PASS able to unlock and is about to remove auto;
	// A removes env:PASS first (it found auto able to unlock).
	hs.beforeDeleteSlot = func() {
		if err := a.RemoveSlot(ctx, ids["env:PASS"]); err != nil {
			t.Errorf("A removes env:PASS: %v", err)
		}
	}
	err = b.RemoveSlot(ctx, ids["auto"])
	var last *LastSlotError
	if !errors.As(err, &last) {
		t.Fatalf("B removes auto after A removed env:PASS: %v, want *LastSlotError", err)
	}
	if hs.beforeDeleteSlot != nil {
		t.Fatal("the hook did not run: the test no longer tests the race")
	}
	left, _ := st.Slots(ctx)
	if !slices.ContainsFunc(left, func(s store.Slot) bool { return s.Spec == "auto" }) {
		t.Fatalf("slots left %v: the last slot that unlocks without the recovery key is gone", left)
	}
}
