package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// RotateOptions tune RotateRoot.
type RotateOptions struct {
	// Sources, when set, replace the keyring's key sources for wrapping
	// the new root key (say, with the recovery key an operator typed).
	Sources *masterkey.Options
	// DropUnavailable removes the slots whose provider cannot wrap the new
	// root key now, instead of failing. The last slot is never dropped.
	DropUnavailable bool
	// Audit, if set, is appended to the audit log in the rotation's
	// transaction, its Target set to what was re-wrapped and dropped.
	Audit *audit.Record
}

// Rotated is the result of RotateRoot.
type Rotated struct {
	Slots     []store.Slot  // the slots that wrap the new root key
	Dropped   []SlotProblem // the slots removed (DropUnavailable)
	Databases int
	DataKeys  int
}

// SlotProblem says why a slot cannot wrap the new root key.
type SlotProblem struct {
	SlotID int64
	Spec   string
	Err    error
}

// RotateError is returned when some slots cannot wrap the new root key and
// DropUnavailable is off, or when no slot can. Nothing was changed.
type RotateError struct {
	Unavailable []SlotProblem
	NoneLeft    bool // no slot at all could wrap the new root key
}

func (e *RotateError) Error() string {
	var b strings.Builder
	b.WriteString("keyring: the root key was not rotated (nothing changed): ")
	if e.NoneLeft {
		b.WriteString("no slot can wrap a new root key now, and the last slot is never dropped")
	} else {
		fmt.Fprintf(&b, "%d slot(s) cannot wrap a new root key now", len(e.Unavailable))
	}
	recovery := false
	for _, p := range e.Unavailable {
		fmt.Fprintf(&b, "\n  slot %d (%s): %v", p.SlotID, p.Spec, p.Err)
		recovery = recovery || p.Spec == recoverySpec
	}
	b.WriteString("\nmake each slot's key source available (env: slots need their variable, exec: slots their command, file: slots their file) and run it again")
	if !e.NoneLeft {
		b.WriteString(", or pass --drop-unavailable-slots to remove them")
	}
	if recovery {
		b.WriteString("\nthe recovery slot needs the recovery key (--recovery-key-file FILE): dropping it leaves the data without a recovery key")
	}
	return b.String()
}

// RotateRoot makes a new random root key and, in one store transaction,
// re-wraps every data key (every database, every version) and every slot
// under it. Its cost grows with the number of keys and slots, not with
// the data. A slot is re-wrapped only if it unwraps the current root key
// now and its provider wraps the new one (checked by unwrapping it); a
// slot that cannot makes RotateRoot fail with a *RotateError, unless
// opts.DropUnavailable removes it in the same transaction. If the slots,
// keys or data keys change meanwhile, nothing changes and the error wraps
// store.ErrConflict.
//
// Within this process, nothing wraps or unwraps with the root key during
// the rotation. Other processes on the same store keep the old root key in
// memory until they need it: the store then refuses the keys they wrap
// under it (root key check, see WithRoot), and they load the new one.
func (k *Keyring) RotateRoot(ctx context.Context, opts RotateOptions) (Rotated, error) {
	k.rotMu.Lock()
	defer k.rotMu.Unlock()
	root, check, err := k.rootAndCheck()
	if err != nil {
		return Rotated{}, err
	}
	src := k.opts.Sources
	if opts.Sources != nil {
		src = *opts.Sources
	}
	src.DeploymentID = k.meta.DeploymentID
	newRoot := secret.Random(crypt.KeySize)
	done := false
	defer func() {
		if !done {
			newRoot.Wipe()
		}
	}()
	var out Rotated
	rw, err := k.rewrapSlots(ctx, root, newRoot, src, opts.DropUnavailable, &out)
	if err != nil {
		return Rotated{}, err
	}
	if err := k.rewrapKeys(ctx, root, newRoot, &rw, &out); err != nil {
		return Rotated{}, err
	}
	if opts.Audit != nil {
		a := *opts.Audit
		a.Target = fmt.Sprintf("%d data keys, %d slots", len(rw.Keys), len(rw.Slots))
		for _, id := range rw.Drop {
			a.Target += fmt.Sprintf(", dropped slot %d", id)
		}
		rw.Audit = &a
	}
	rw.OldRoot, rw.NewRoot = check, rootCheckOf(newRoot)
	if err := k.st.RewrapAll(ctx, rw); err != nil {
		if errors.Is(err, store.ErrRootChanged) {
			return Rotated{}, fmt.Errorf("keyring: the root key was not rotated (nothing changed): another process rotated it first; restart this process and run it again if still needed: %w", err)
		}
		if errors.Is(err, store.ErrConflict) {
			return Rotated{}, fmt.Errorf("keyring: the root key was not rotated (nothing changed): slots or data keys changed meanwhile; run it again: %w", err)
		}
		return Rotated{}, fmt.Errorf("keyring: the root key was not rotated (nothing changed): %w", err)
	}
	k.mu.Lock()
	old := k.setRootLocked(newRoot)
	k.mu.Unlock()
	done = true
	if old != nil {
		old.Wipe() // nobody holds it: rotMu is ours
	}
	return out, nil
}

func (k *Keyring) rewrapSlots(ctx context.Context, root, newRoot *secret.Key, src masterkey.Options, drop bool, out *Rotated) (store.Rewrap, error) {
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return store.Rewrap{}, err
	}
	var rw store.Rewrap
	var bad []SlotProblem
	for _, s := range slots {
		blob, err := k.rewrapSlot(ctx, s, root, newRoot, src)
		if err != nil {
			bad = append(bad, SlotProblem{SlotID: s.ID, Spec: s.Spec, Err: err})
			continue
		}
		rw.Slots = append(rw.Slots, store.SlotBlob{ID: s.ID, Old: s.Blob, New: blob})
		s.Blob = blob
		out.Slots = append(out.Slots, s)
	}
	switch {
	case len(rw.Slots) == 0:
		return store.Rewrap{}, &RotateError{Unavailable: bad, NoneLeft: true}
	case len(bad) > 0 && !drop:
		return store.Rewrap{}, &RotateError{Unavailable: bad}
	}
	for _, p := range bad {
		rw.Drop = append(rw.Drop, p.SlotID)
	}
	out.Dropped = bad
	return rw, nil
}

// rewrapSlot wraps newRoot for s, after proving that s opens now (so that
// a provider whose key material is gone never makes up a new one) and
// before proving that the new blob opens.
func (k *Keyring) rewrapSlot(ctx context.Context, s store.Slot, root, newRoot *secret.Key, src masterkey.Options) ([]byte, error) {
	got, err := unwrapSlot(ctx, s.Spec, s.Blob, k.meta.DeploymentID, src)
	if err != nil {
		return nil, fmt.Errorf("cannot open it now: %w", err)
	}
	same := got.Equal(root)
	got.Wipe()
	if !same {
		return nil, errors.New("it holds a different root key")
	}
	blob, err := wrapForSlot(ctx, s.Spec, newRoot, k.meta.DeploymentID, src)
	if err != nil {
		return nil, fmt.Errorf("cannot wrap the new root key: %w", err)
	}
	back, err := unwrapSlot(ctx, s.Spec, blob, k.meta.DeploymentID, src)
	if err != nil {
		return nil, fmt.Errorf("does not open what it just wrapped: %w", err)
	}
	same = back.Equal(newRoot)
	back.Wipe()
	if !same {
		return nil, errors.New("does not open what it just wrapped")
	}
	return blob, nil
}

func (k *Keyring) rewrapKeys(ctx context.Context, root, newRoot *secret.Key, rw *store.Rewrap, out *Rotated) error {
	dbs, err := k.st.Databases(ctx)
	if err != nil {
		return err
	}
	out.Databases = len(dbs)
	names := make(map[string]string, len(dbs))
	for _, db := range dbs {
		names[db.ID] = db.Name
	}
	keys, err := k.st.AllDataKeys(ctx) // one read, not one per database
	if err != nil {
		return err
	}
	for _, dk := range keys {
		ad := dekAD(k.meta.DeploymentID, dk.DatabaseID, dk.Version)
		key, err := crypt.UnwrapKey(root, dk.Wrapped, ad)
		if err != nil {
			return fmt.Errorf("keyring: the root key was not rotated (nothing changed): data key %d of database %q does not unwrap (corrupted or tampered; `keyward keys verify` lists what is damaged, `keyward keys import` restores a key from a backup): %w", dk.Version, names[dk.DatabaseID], err)
		}
		wrapped, err := crypt.WrapKey(newRoot, key, ad)
		key.Wipe()
		if err != nil {
			return err
		}
		rw.Keys = append(rw.Keys, store.KeyBlob{DatabaseID: dk.DatabaseID, Version: dk.Version, Old: dk.Wrapped, New: wrapped})
	}
	out.DataKeys = len(rw.Keys)
	return nil
}

// CheckDataKey reports whether a stored data key unwraps under the root
// key (without caching it). ErrSealed while sealed.
func (k *Keyring) CheckDataKey(dk store.DataKey) error {
	defer k.HoldRoot()()
	root, err := k.rootKey()
	if err != nil {
		return err
	}
	key, err := crypt.UnwrapKey(root, dk.Wrapped, dekAD(k.meta.DeploymentID, dk.DatabaseID, dk.Version))
	if err != nil {
		return err
	}
	key.Wipe()
	return nil
}
