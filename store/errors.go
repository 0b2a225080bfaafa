package store

import "errors"

// Sentinel errors. Backends wrap them with context; test with errors.Is.
var (
	ErrNotFound           = errors.New("store: not found")
	ErrExists             = errors.New("store: already exists")
	ErrConflict           = errors.New("store: revision conflict")
	ErrNotInitialized     = errors.New("store: not initialised")
	ErrAlreadyInitialized = errors.New("store: already initialised")
	// ErrSchemaTooNew means the data was written by a newer keyward whose
	// schema this build does not know. Upgrade keyward; nothing was changed.
	ErrSchemaTooNew = errors.New("store: data written by a newer keyward (schema version too new); upgrade keyward to open it")
	// ErrCorrupt means stored data that a committed row refers to is
	// missing or does not have the recorded size (for example an
	// attachment file that was deleted or truncated). The error names what
	// is damaged; restore it from a backup.
	ErrCorrupt = errors.New("store: stored data is missing or damaged")
	// ErrRootChanged means a write carried key material wrapped under a
	// root key that is no longer the deployment's: another process rotated
	// the root key since this one unlocked. Nothing was written; load the
	// current root key (unlock again) and wrap again. See the package doc, Root key check.
	ErrRootChanged = errors.New("store: the root key was rotated by another process; nothing was written")
)
