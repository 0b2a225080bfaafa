package keyring

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors.
var (
	// ErrSealed means no root key is available: unlock first.
	ErrSealed = errors.New("keyring: sealed (no slot has unlocked the root key yet)")
	// ErrNoKey means a ciphertext names a key version the database does not have.
	ErrNoKey = errors.New("keyring: no such data key version")
	// ErrKeyExhausted means a data key reached the encryption limit and no
	// new version could be made.
	ErrKeyExhausted = errors.New("keyring: data key reached its encryption limit")
)

// LastSlotError is returned when removing a slot would leave no slot that
// can unlock the root key with the key sources available now.
type LastSlotError struct {
	SlotID int64
	Others []error // why each other slot cannot unlock now
}

func (e *LastSlotError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keyring: refusing to remove slot %d: no other slot can unlock right now", e.SlotID)
	for _, o := range e.Others {
		fmt.Fprintf(&b, "\n  %v", o)
	}
	b.WriteString("\nadd and test another slot first (keyward slot add SPEC), or make its key source available")
	return b.String()
}
