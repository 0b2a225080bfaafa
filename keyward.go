package keyward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// DBFile is the name of the SQLite file inside a data directory.
const DBFile = "keyward.db"

// Config says where the data lives and where its keys come from.
type Config struct {
	// DataDir holds the SQLite store (DBFile). Required unless Store is set.
	DataDir string
	// Store, when set, is used instead of opening DataDir. Keyward takes
	// ownership and closes it.
	Store store.Store
	// MasterKeys are the provider specs of the slots Init creates, in
	// priority order (default: "auto"). A recovery slot is always added.
	MasterKeys []string
	// KeyDir is where the "auto" provider keeps its key files (default
	// $KEYWARD_KEY_DIR, else $XDG_CONFIG_HOME/keyward, else ~/.config/keyward).
	KeyDir string
	// RecoveryKey, when set, lets the recovery slot unlock.
	RecoveryKey string
	// Getenv reads environment variables for providers (default os.LookupEnv).
	Getenv func(string) (string, bool)
	// ExecTimeout bounds exec: providers (default 10 s).
	ExecTimeout time.Duration
	// KDF overrides the Argon2id parameters of new passphrase slots.
	KDF *masterkey.Argon2Params
	// CacheIdle is how long an unused data key stays unwrapped (default 5 min).
	CacheIdle time.Duration
	// Logger receives operational logs (never keys or values). Default: discard.
	Logger *slog.Logger
}

func (c Config) sources() masterkey.Options {
	o := masterkey.Options{KeyDir: c.KeyDir, Getenv: c.Getenv, ExecTimeout: c.ExecTimeout, KDF: c.KDF}
	if c.RecoveryKey != "" {
		rk := c.RecoveryKey
		o.RecoveryKey = func(context.Context) (string, error) { return rk, nil }
	}
	return o
}

func (c Config) openStore(ctx context.Context, create bool) (store.Store, error) {
	if c.Store != nil {
		return c.Store, nil
	}
	if c.DataDir == "" {
		return nil, invalid("no data directory configured")
	}
	path := filepath.Join(c.DataDir, DBFile)
	if !create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("keyward: %s: %w; run `keyward init` to create it, or point --data at an existing data directory", c.DataDir, ErrNotInitialized)
		}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("keyward: create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return st, nil
}

// removeFresh deletes a store file (its WAL, and its attachments
// directory, which is still empty) that Init created and failed to
// initialise, so a failed init leaves nothing behind.
func (c Config) removeFresh() {
	if c.Store != nil || c.DataDir == "" {
		return
	}
	base := filepath.Join(c.DataDir, DBFile)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(base + suffix)
	}
	_ = os.Remove(filepath.Join(c.DataDir, sqlite.AttachmentsDir)) // only if empty
}

// InitResult is what Init reports once.
type InitResult struct {
	DeploymentID string
	// RecoveryKey unlocks the data when every other slot is lost. It is
	// stored nowhere: show it to the user once.
	RecoveryKey string
	// AdminToken is the secret of the first admin API token (see
	// CreateToken). Only its digest is stored: show it to the user once.
	AdminToken string
}

// Init creates a new deployment: the store, a root key, one slot per
// Config.MasterKeys entry and a recovery slot. ErrAlreadyInitialized if the
// store already holds a deployment; nothing is changed then.
func Init(ctx context.Context, cfg Config) (InitResult, error) {
	fresh := cfg.Store == nil && cfg.DataDir != ""
	if fresh {
		_, err := os.Stat(filepath.Join(cfg.DataDir, DBFile))
		fresh = errors.Is(err, os.ErrNotExist)
	}
	st, err := cfg.openStore(ctx, true)
	if err != nil {
		return InitResult{}, err
	}
	defer st.Close()
	if _, err := st.Meta(ctx); err == nil {
		return InitResult{}, fmt.Errorf("keyward: %s: %w; use it as it is, or choose another --data directory", cfg.DataDir, ErrAlreadyInitialized)
	}
	rk, err := keyring.Init(ctx, st, cfg.MasterKeys, cfg.sources())
	if err != nil {
		if fresh {
			st.Close()
			cfg.removeFresh()
		}
		return InitResult{}, err
	}
	m, err := st.Meta(ctx)
	if err != nil {
		return InitResult{}, err
	}
	admin, tok, err := createToken(ctx, st, TokenSpec{Name: "first admin (init)", Role: RoleAdmin})
	if err != nil {
		return InitResult{}, fmt.Errorf("keyward: init: first admin token: %w", err)
	}
	rec := audit.Record{Actor: actorOf(ctx), Op: "init", Target: "deployment " + m.DeploymentID + ", admin token " + tok.ID, Result: audit.ResultOK}
	if _, err := st.AppendAudit(ctx, rec); err != nil {
		return InitResult{}, fmt.Errorf("keyward: init: audit log: %w", err)
	}
	return InitResult{DeploymentID: m.DeploymentID, RecoveryKey: rk, AdminToken: admin}, nil
}

// Keyward is an open deployment. It is safe for concurrent use.
type Keyward struct {
	cfg Config
	st  store.Store
	kr  *keyring.Keyring
	log *slog.Logger
	dbs sync.Map // name → store.Database found by Database

	pendingMu sync.Mutex
	pending   []audit.Record // failed unlocks while sealed (auditUnlock)
	dropped   int            // failed unlocks beyond maxPendingAudit
}

// Open opens an initialised deployment and unlocks it with the first slot
// that works. If none does, it returns a *keyring.UnlockError (errors.Is
// ErrSealed) that says why each slot failed, and nothing stays open.
func Open(ctx context.Context, cfg Config) (*Keyward, error) {
	kw, err := OpenSealed(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := kw.Unlock(ctx); err != nil {
		kw.Close()
		return nil, err
	}
	return kw, nil
}

// OpenSealed opens an initialised deployment without unlocking it. Data
// operations return ErrSealed until Unlock succeeds.
func OpenSealed(ctx context.Context, cfg Config) (*Keyward, error) {
	st, err := cfg.openStore(ctx, false)
	if err != nil {
		return nil, err
	}
	kr, err := keyring.Open(ctx, st, keyring.Options{Sources: cfg.sources(), CacheIdle: cfg.CacheIdle})
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotInitialized) {
			return nil, fmt.Errorf("keyward: %s: %w; run `keyward init` first", cfg.DataDir, err)
		}
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keyward{cfg: cfg, st: st, kr: kr, log: log}, nil
}

// Unlock tries the slots in priority order. On failure the error is a
// *keyring.UnlockError listing each slot's reason.
func (kw *Keyward) Unlock(ctx context.Context) error {
	if !kw.Sealed() {
		return nil
	}
	attempts, err := kw.kr.Unlock(ctx)
	kw.logAttempts(attempts)
	kw.auditUnlock(ctx, "unlock", attempts, err)
	return err
}

// Sealed reports whether the deployment is locked.
func (kw *Keyward) Sealed() bool { return kw.kr.Sealed() }

// DeploymentID returns the deployment's id.
func (kw *Keyward) DeploymentID() string { return kw.kr.DeploymentID() }

// Close wipes every key from memory and closes the store.
func (kw *Keyward) Close() error {
	kw.kr.Close()
	return kw.st.Close()
}
