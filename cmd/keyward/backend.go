package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
)

// backend is what the commands need from a deployment. Each command is
// written once against it; two implementations serve it:
//   - local: the data directory, opened and unlocked by this process
//     (*keyward.Keyward), as without a server;
//   - remote: a keyward server's HTTP API (*client.Client), when --server or
//     KEYWARD_ADDR is set.
//
// Errors match the root package's sentinels (keyward.ErrNotFound,
// ErrExists, ErrConflict, ErrSealed, ErrIntegrity, ErrInvalid) in both, so
// hints and exit statuses do not depend on the backend.
type backend interface {
	Databases(ctx context.Context) ([]keyward.DatabaseInfo, error)
	CreateDatabase(ctx context.Context, name string) error

	// Get returns an entry with its fields.
	Get(ctx context.Context, db, path string) (keyward.Entry, error)
	// Put stores e; a non-zero e.Revision is compare and swap, create
	// refuses to replace an entry (ErrExists).
	Put(ctx context.Context, db string, e keyward.Entry, create bool) (keyward.Entry, error)
	Delete(ctx context.Context, db, path string, revision int64) error
	// List returns the entries' metadata, every page of them.
	List(ctx context.Context, db, prefix string) ([]keyward.Entry, error)

	// PutAttachment streams r; size is its length, or -1 when unknown.
	PutAttachment(ctx context.Context, db, path, name string, r io.Reader, size int64) (keyward.Attachment, error)
	// OpenAttachment returns the decrypted attachment; a read error means
	// what was read must be discarded.
	OpenAttachment(ctx context.Context, db, path, name string) (io.ReadCloser, error)
	Attachments(ctx context.Context, db, path string) ([]keyward.Attachment, error)
	DeleteAttachment(ctx context.Context, db, path, name string) error

	// Status reports the deployment (Deployment is nil for a server token
	// that is not admin). unlockErr says why a sealed deployment is sealed.
	Status(ctx context.Context) (st api.Status, unlockErr error, err error)
	// Unlock unseals with a passphrase or the recovery key (one of them);
	// it returns the slot that opened, nil if already unlocked.
	Unlock(ctx context.Context, passphrase, recoveryKey string) (*api.SlotAttempt, error)
	Maintenance(ctx context.Context) (keyward.Maintenance, error)
	SetMaintenance(ctx context.Context, enabled bool, reason string) (keyward.Maintenance, error)

	// CreateToken returns the new token's secret and description.
	CreateToken(ctx context.Context, t tokenRequest) (string, keyward.Token, error)
	Tokens(ctx context.Context) ([]keyward.Token, error)
	DeleteToken(ctx context.Context, id string) error

	keysBackend // rotate-root, verify, audit (keys_backend.go)
	// ExportKeys writes an export of the keys of req.Databases (every
	// database when empty) to w.
	ExportKeys(ctx context.Context, w io.Writer, req exportRequest) (exportResult, error)
	// ImportKeys imports an opened export (or with dryRun reports what it
	// would do). A conflict without overwrite is an error that matches
	// keyward.ErrConflict.
	ImportKeys(ctx context.Context, b *bundle.Bundle, overwrite, dryRun bool) (api.KeyImportReport, error)

	// Where names the backend in messages: the data directory or the
	// server's URL.
	Where() string
	Close() error
}

// tokenRequest is what `token create` asks for.
type tokenRequest struct {
	Name      string
	Role      keyward.Role
	Databases []string
	TTL       time.Duration // 0: never expires
}

// exportRequest is what `keys export` asks for: a passphrase or age
// recipients (parsed already, so both backends get valid ones).
type exportRequest struct {
	Databases  []string
	Passphrase string
	Recipients []string // age public keys
	Armor      bool
}

// exportResult says what an export holds.
type exportResult struct {
	Databases, Keys int
}

// openMode says how much unlocking a command needs from a local backend.
type openMode int

const (
	needUnlocked openMode = iota + 1 // fail when no slot unlocks
	allowSealed                      // try the slots, but open sealed if none works (status)
	stayLocked                       // open sealed and do not try the slots (unlock)
)

// backend returns the backend of this invocation: remote when a server is
// set, else the data directory. The caller closes it.
func (a *app) backend(cmd *cobra.Command, mode openMode) (backend, error) {
	s, err := a.settings(cmd)
	if err != nil {
		return nil, err
	}
	if s.Server != "" {
		return a.remote(s)
	}
	return a.local(s, mode)
}

// closeBackend closes b and reports a close error unless err is already set.
func closeBackend(b backend, err *error) {
	if cerr := b.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}
