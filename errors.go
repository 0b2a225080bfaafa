package keyward

import (
	"errors"
	"fmt"

	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// Sentinel errors; test with errors.Is. They are the store's and keyring's
// own sentinels, so errors.Is works whichever layer produced them.
var (
	ErrNotFound           = store.ErrNotFound
	ErrExists             = store.ErrExists
	ErrConflict           = store.ErrConflict
	ErrNotInitialized     = store.ErrNotInitialized
	ErrAlreadyInitialized = store.ErrAlreadyInitialized
	ErrSchemaTooNew       = store.ErrSchemaTooNew
	ErrSealed             = keyring.ErrSealed
	// ErrRootRotated means another process rotated the root key and this
	// one cannot load the new key with its key sources: restart it.
	ErrRootRotated = keyring.ErrRootRotated
	// ErrIntegrity is matched by every *IntegrityError.
	ErrIntegrity = errors.New("keyward: integrity check failed")
	// ErrInvalid is matched by errors about malformed names, paths or fields.
	ErrInvalid = errors.New("keyward: invalid argument")
)

// IntegrityError reports a ciphertext that failed to decrypt or
// authenticate. It names the row, never its content.
type IntegrityError struct {
	Database   string
	Path       string
	EntryID    string
	Attachment string // empty for the entry's fields
	KeyVersion uint32
	Err        error
}

func (e *IntegrityError) Error() string {
	what := fmt.Sprintf("entry %q", e.Path)
	if e.Attachment != "" {
		what = fmt.Sprintf("attachment %q of entry %q", e.Attachment, e.Path)
	}
	return fmt.Sprintf("keyward: %s in database %q (entry id %s, key version %d) failed to decrypt: %v; "+
		"the stored ciphertext was altered, truncated or belongs elsewhere: restore it from a backup or delete it",
		what, e.Database, e.EntryID, e.KeyVersion, e.Err)
}

// Unwrap returns the underlying cause.
func (e *IntegrityError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrIntegrity) true.
func (e *IntegrityError) Is(target error) bool { return target == ErrIntegrity }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
