package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

// Attempt records what one slot did during an unlock.
type Attempt struct {
	SlotID int64
	Spec   string
	Err    error // nil for the slot that unlocked
}

// UnlockError lists why each slot failed. errors.Is(err, ErrSealed) holds.
type UnlockError struct {
	Attempts []Attempt
}

func (e *UnlockError) Error() string {
	var b strings.Builder
	b.WriteString("keyring: no slot could unlock the root key")
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  slot %d (%s): %v", a.SlotID, a.Spec, a.Err)
	}
	b.WriteString("\nprovide the missing key source, or unlock with the recovery key (--recovery-key-file)")
	return b.String()
}

// Is makes errors.Is(err, ErrSealed) true.
func (e *UnlockError) Is(target error) bool { return target == ErrSealed }

// Unlock tries every slot in priority order with the keyring's sources and
// keeps the first root key that unwraps. It returns the attempts made (the
// last one is the winner), or an *UnlockError. Unlocking an unlocked
// keyring is a no-op that returns the attempts of the earlier unlock.
func (k *Keyring) Unlock(ctx context.Context) ([]Attempt, error) {
	return k.UnlockWith(ctx, k.opts.Sources)
}

// UnlockWith is Unlock with other key sources, e.g. a passphrase or a
// recovery key typed by an operator.
func (k *Keyring) UnlockWith(ctx context.Context, src masterkey.Options) ([]Attempt, error) {
	return k.UnlockMatching(ctx, src, nil)
}

// UnlockMatching is UnlockWith restricted to the slots whose spec match
// accepts (nil: every slot), e.g. only the passphrase slots when an operator
// typed a passphrase. The other slots are not tried and not reported.
func (k *Keyring) UnlockMatching(ctx context.Context, src masterkey.Options, match func(spec string) bool) ([]Attempt, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.root != nil {
		return k.attempts, nil
	}
	src.DeploymentID = k.meta.DeploymentID
	slots, err := k.st.Slots(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyring: read slots: %w", err)
	}
	var attempts []Attempt
	tried := 0
	for _, s := range slots {
		if match != nil && !match(s.Spec) {
			continue
		}
		tried++
		if err := ctx.Err(); err != nil {
			return attempts, err
		}
		root, err := unwrapSlot(ctx, s.Spec, s.Blob, k.meta.DeploymentID, src)
		a := Attempt{SlotID: s.ID, Spec: s.Spec, Err: err}
		attempts = append(attempts, a)
		if err == nil {
			k.setRootLocked(root)
			k.unlocked = &attempts[len(attempts)-1]
			k.attempts = attempts
			return attempts, nil
		}
	}
	k.attempts = attempts
	if len(slots) == 0 {
		return nil, fmt.Errorf("%w: the store has no slots", ErrSealed)
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: no slot of that kind (see `keyward slot ls`)", ErrSealed)
	}
	return attempts, &UnlockError{Attempts: attempts}
}

// UnlockedBy returns the slot that unlocked the keyring, if any.
func (k *Keyring) UnlockedBy() (Attempt, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.unlocked == nil {
		return Attempt{}, false
	}
	return *k.unlocked, true
}

// Attempts returns what each slot did in the last unlock.
func (k *Keyring) Attempts() []Attempt {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]Attempt(nil), k.attempts...)
}

func unwrapSlot(ctx context.Context, spec string, blob []byte, deployment string, src masterkey.Options) (*secret.Key, error) {
	p, err := masterkey.New(spec, src)
	if err != nil {
		return nil, err
	}
	root, err := p.Unwrap(ctx, blob, slotAD(deployment, spec))
	if err != nil {
		return nil, err
	}
	if root.Len() != secret.KeySize {
		root.Wipe()
		return nil, errors.New("keyring: slot holds a key of the wrong size")
	}
	return root, nil
}
