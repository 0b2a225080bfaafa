// Package store defines where keyward keeps its state: the deployment's
// metadata, the slots that wrap the root key, the per-database data keys
// (wrapped), and the encrypted entries and attachments.
//
// A Store never sees plaintext key material or field values: everything
// sensitive arrives already encrypted. Plaintext columns hold only what must
// be searched or counted (names, paths, types, tags, timestamps, revisions and
// the key version each row uses).
//
// Times are returned in UTC and round-trip exactly (nanoseconds included). A
// zero Created given to Init, AddSlot, CreateDatabase or AddDataKey means now.
// Names and paths are non-empty UTF-8 without NUL bytes, and sort bytewise.
//
// # Root key check
//
// Every write that stores key material wrapped under the root key (a slot,
// a data key, an import) carries the check value of the root key it was
// wrapped under ([Slot].Root, [DataKey].Root, [KeyImport].Root). In the
// writing transaction the store compares it with [Meta].RootCheck and
// refuses the write with [ErrRootChanged] when they differ, so a process
// still holding a root key that another process rotated away can never
// store a key that nothing could unwrap. Init records the first check
// value, RewrapAll moves it from [Rewrap].OldRoot to [Rewrap].NewRoot, and
// ReplaceRootKey records the one its slots carry. A store with no check
// value recorded (created before it existed) records the first one a write
// carries; once one is recorded, a write without one is refused. Reads
// leave Root empty.
//
// Backends live in sub-packages (store/sqlite, later store/postgres) and all
// pass the conformance suite in store/storetest.
package store

import (
	"context"
	"time"

	"github.com/keyward/keyward/audit"
)

// Store is the persistence interface. Every method takes a context first and
// returns the sentinel errors documented on it (wrapped; test with errors.Is).
// Methods are safe for concurrent use.
type Store interface {
	// Meta returns the deployment metadata. ErrNotInitialized if Init never ran.
	Meta(ctx context.Context) (Meta, error)
	// Init records the deployment metadata and the first slots in one
	// transaction. ErrAlreadyInitialized if it ran before.
	Init(ctx context.Context, m Meta, slots []Slot) error

	// Slots returns all slots ordered by Priority, then ID.
	Slots(ctx context.Context) ([]Slot, error)
	// AddSlot stores s and returns it with ID and Created set.
	AddSlot(ctx context.Context, s Slot) (Slot, error)
	// DeleteSlot removes slot id if slot keep, another slot the caller
	// found able to unlock, still exists (keep 0: no such condition), in
	// one step: two callers removing each other's keep slot cannot both
	// succeed. ErrNotFound if there is no slot id; ErrConflict, removing
	// nothing, if keep is gone (or is id).
	DeleteSlot(ctx context.Context, id, keep int64) error

	// CreateDatabase stores a database and its first data key (which must
	// be in state KeyPrimary) in one transaction. ErrExists if the name is
	// taken.
	CreateDatabase(ctx context.Context, db Database, first DataKey) error
	// Database returns the database with that name. ErrNotFound.
	Database(ctx context.Context, name string) (Database, error)
	// Databases returns all databases ordered by name.
	Databases(ctx context.Context) ([]Database, error)

	// DataKeys returns the data keys of a database ordered by version.
	DataKeys(ctx context.Context, dbID string) ([]DataKey, error)
	// AllDataKeys returns the data keys of every database in one read,
	// ordered by database id, then version (root key rotation).
	AllDataKeys(ctx context.Context) ([]DataKey, error)
	// AddDataKey stores a new version for a database. ErrExists if that
	// version exists (then nothing changes), ErrNotFound if the database
	// does not. A key added as KeyPrimary demotes the previous primary to
	// KeyActive in the same transaction.
	AddDataKey(ctx context.Context, k DataKey) error
	// ImportKeys applies imp in one transaction, all or nothing: it creates
	// the databases of imp.Create, adds the versions of imp.Add (a KeyPrimary
	// one demotes its database's primary, as AddDataKey does) and replaces
	// the wrapped key of the versions of imp.Replace. Each created database
	// needs exactly one KeyPrimary version among imp.Add. ErrExists if a
	// created database's id or name is taken or an added version exists;
	// ErrNotFound if an added version's database or a replaced version does
	// not exist; ErrConflict if a replaced version's wrapped key is no longer
	// its Old one. Nothing changes on any error.
	ImportKeys(ctx context.Context, imp KeyImport) error
	// ReplaceRootKey puts the data keys under a new root key in one
	// transaction: it replaces every slot by slots (at least one) and the
	// wrapped key of every data key version by the one in keys. keys must
	// name each stored version exactly once, with the wrapped key it
	// replaces as Old: otherwise (a version was added or changed meanwhile)
	// ErrConflict, and nothing changes. Every slot carries the new root
	// key's check value (the same in all), which becomes the recorded one.
	ReplaceRootKey(ctx context.Context, slots []Slot, keys []RewrappedKey) error
	// ReserveEncryptions raises the reserved encryption count of a key
	// version by n and returns the new total. Callers reserve before they
	// encrypt, so a crash can only over-count. ErrNotFound.
	ReserveEncryptions(ctx context.Context, dbID string, version uint32, n uint64) (uint64, error)

	// Entry returns one entry with its ciphertext. ErrNotFound.
	Entry(ctx context.Context, dbID, path string) (Entry, error)
	// Entries lists entry metadata (Ciphertext nil) whose path starts with
	// prefix (taken literally) and sorts after `after`, ordered by path
	// (bytewise), at most limit (limit <= 0 means no limit).
	Entries(ctx context.Context, dbID, prefix, after string, limit int) ([]Entry, error)
	// PutEntry writes e under compare-and-swap. expect == 0 means the path
	// must not exist yet; expect > 0 means the stored entry must have that
	// Revision and the same ID as e. Otherwise ErrConflict. The stored
	// Revision becomes expect+1; Created is kept from the existing row (or
	// set now), Updated is set now (and always moves forward); the Revision,
	// Created and Updated of e are ignored. Returns the stored entry. A
	// negative expect, an unknown database, or an ID that belongs to another
	// entry is an error.
	PutEntry(ctx context.Context, e Entry, expect int64) (Entry, error)
	// DeleteEntry removes an entry and its attachments. expect is a revision
	// to match, or AnyRevision. ErrNotFound, ErrConflict.
	DeleteEntry(ctx context.Context, dbID, path string, expect int64) error

	// BeginAttachment starts writing an attachment for an existing entry
	// (ErrNotFound if the entry does not exist). Chunks are written in
	// their own transactions as they come, so memory and transaction size
	// stay flat; the attachment becomes visible only at Commit, which
	// replaces any attachment of the same name atomically. Abort, or a
	// crash, leaves nothing visible; a backend removes abandoned leftovers
	// later (never an upload another process is still writing).
	BeginAttachment(ctx context.Context, a Attachment) (AttachmentWriter, error)
	// Attachment returns one committed attachment's metadata. ErrNotFound.
	Attachment(ctx context.Context, entryID, name string) (Attachment, error)
	// Attachments lists an entry's committed attachments ordered by name.
	Attachments(ctx context.Context, entryID string) ([]Attachment, error)
	// AttachmentChunk returns the stored bytes of chunk index of a committed
	// attachment. ErrNotFound; ErrCorrupt if the backend finds the
	// attachment's stored data missing or damaged.
	AttachmentChunk(ctx context.Context, attachmentID string, index int64) ([]byte, error)
	// DeleteAttachment removes a committed attachment. ErrNotFound.
	DeleteAttachment(ctx context.Context, entryID, name string) error

	// KeyUsage counts, per key version, the entries and committed
	// attachments of a database that are encrypted under it. It has one row
	// per data key version of the database (zero counts when unused), plus
	// any other version a row uses, ordered by version.
	KeyUsage(ctx context.Context, dbID string) ([]KeyUsage, error)

	// CreateToken stores an API token (its hash, never its secret).
	// ErrExists if the ID is taken. A zero Created means now.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// Token returns the token with that ID. ErrNotFound.
	Token(ctx context.Context, id string) (Token, error)
	// Tokens returns all tokens ordered by Created, then ID.
	Tokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token. ErrNotFound.
	DeleteToken(ctx context.Context, id string) error

	// Maintenance returns the maintenance switch (the zero value if it was
	// never set).
	Maintenance(ctx context.Context) (Maintenance, error)
	// SetMaintenance stores the maintenance switch. A zero Since means now.
	SetMaintenance(ctx context.Context, m Maintenance) (Maintenance, error)

	// RewrapAll replaces, in one transaction, the blob of every slot and
	// the wrapped form of every data key (of every database and version):
	// the root key rotation. Each item carries the bytes it replaces; if
	// any of them changed, if a slot or data key exists that r does not
	// name, or one it names is gone, nothing changes and the error wraps
	// ErrConflict. The slots in r.Drop are deleted. r.Audit, if set, is
	// appended to the audit log in the same transaction.
	RewrapAll(ctx context.Context, r Rewrap) error

	// AppendAudit appends r to the audit log and returns it with Seq, Prev
	// and Hash set (see audit.Chain; a zero Time means now). The previous
	// hash is read inside the appending transaction, which holds the
	// store's write lock, so appends from several processes form one
	// chain. The head (AuditHead) is updated in the same transaction.
	AppendAudit(ctx context.Context, r audit.Record) (audit.Record, error)
	// AuditRecords returns up to limit records with Seq > after, in order
	// (limit <= 0 means 1000).
	AuditRecords(ctx context.Context, after int64, limit int) ([]audit.Record, error)
	// AuditHead returns the last appended record's seq and hash as stored
	// beside the log (the zero Head if nothing was appended).
	AuditHead(ctx context.Context) (audit.Head, error)

	// JobStore: long-running jobs and their writes (jobs.go).
	JobStore

	// Close releases the store.
	Close() error
}

// Rewrap is what RewrapAll replaces.
type Rewrap struct {
	Slots []SlotBlob
	Keys  []KeyBlob
	Drop  []int64 // slot ids to delete
	Audit *audit.Record
	// OldRoot is the check value of the root key being replaced (it must
	// be the recorded one, else ErrRootChanged); NewRoot that of the new
	// one, recorded in the same transaction (package doc: Root key check).
	OldRoot, NewRoot []byte
}

// SlotBlob replaces one slot's blob.
type SlotBlob struct {
	ID       int64
	Old, New []byte
}

// KeyBlob replaces one data key's wrapped form.
type KeyBlob struct {
	DatabaseID string
	Version    uint32
	Old, New   []byte
}

// AttachmentWriter receives an attachment's chunks in order.
type AttachmentWriter interface {
	// WriteChunk stores the next chunk (indexes start at 0, no gaps). Every
	// chunk but the last must be as long as chunk 0 (the attachment stream
	// format's chunks are); a backend may refuse a chunk that follows one of
	// another length.
	WriteChunk(ctx context.Context, index int64, data []byte) error
	// Commit makes the attachment visible with the given final metadata
	// (Size and Chunks are taken from final). It fails, changing nothing
	// visible, unless exactly the chunks 0..Chunks-1 were written; the
	// writer can then still Abort. ErrNotFound if the entry was deleted
	// meanwhile.
	Commit(ctx context.Context, final Attachment) (Attachment, error)
	// Abort discards what was written. Safe to call after Commit (no-op).
	Abort(ctx context.Context) error
}

// AnyRevision, passed to DeleteEntry, skips the revision check.
const AnyRevision int64 = -1

// Meta is the deployment's identity and schema.
type Meta struct {
	DeploymentID  string
	Created       time.Time
	SchemaVersion int // filled by the store on read
	// RootCheck identifies the current root key (the keyring's check
	// value of it, which reveals nothing of the key); empty in a store
	// that never recorded one. See the package doc, Root key check.
	RootCheck []byte
}

// Slot is one wrapped copy of the root key.
type Slot struct {
	ID       int64
	Priority int    // lower is tried first
	Spec     string // provider spec, non-secret (e.g. "env:KEYWARD_PASSPHRASE")
	Blob     []byte // the provider's wrapped root key
	Created  time.Time
	Root     []byte // writes: check value of the root key Blob wraps (package doc: Root key check)
}

// Database is a named collection of entries with its own data keys.
type Database struct {
	ID      string // random, stable; bound into every ciphertext
	Name    string
	Created time.Time
}

// KeyState is the life-cycle state of a data key version. The zero value is
// invalid.
type KeyState int

const (
	KeyPrimary KeyState = iota + 1 // encrypts new writes (and decrypts)
	KeyActive                      // decrypts only
	KeyRetired                     // no data left on it
)

func (s KeyState) String() string {
	switch s {
	case KeyPrimary:
		return "primary"
	case KeyActive:
		return "active"
	case KeyRetired:
		return "retired"
	}
	return "invalid"
}

// DataKey is one version of a database's data encryption key, wrapped under
// the root key.
type DataKey struct {
	DatabaseID  string
	Version     uint32 // starts at 1
	State       KeyState
	Wrapped     []byte
	Created     time.Time
	Encryptions uint64 // reserved encryption count (an upper bound)
	Root        []byte // writes: check value of the root key Wrapped is under (package doc: Root key check)
}

// KeyImport is what ImportKeys applies: databases to create, data key
// versions to add, and versions whose wrapped key is replaced.
type KeyImport struct {
	Create  []Database
	Add     []DataKey
	Replace []RewrappedKey
	Root    []byte // check value of the root key every wrapped key is under (package doc: Root key check)
}

// RewrappedKey replaces the wrapped key of a data key version, whose state,
// creation time and encryption count stay. The replacement is conditional:
// it happens only while the stored wrapped key is still Old.
type RewrappedKey struct {
	DatabaseID string
	Version    uint32
	Old, New   []byte
}

// Entry is one stored record. Ciphertext holds the encrypted fields.
type Entry struct {
	ID         string // random, stable for the entry's life; bound into its ciphertext
	DatabaseID string
	Path       string
	Type       string
	Tags       []string
	Created    time.Time
	Updated    time.Time
	Revision   int64
	KeyVersion uint32
	Ciphertext []byte
}

// Attachment is a file stored in chunks under an entry.
type Attachment struct {
	ID         string // random; bound into its ciphertext
	EntryID    string
	Name       string
	Size       int64 // plaintext size as recorded by the writer (informational)
	KeyVersion uint32
	Header     []byte // stream header
	Chunks     int64
	Created    time.Time
}

// KeyUsage counts the rows on one key version.
type KeyUsage struct {
	Version     uint32
	Entries     int64
	Attachments int64
}

// Token is an API token as stored: Hash is a digest of its secret, from which
// the secret cannot be recovered. Role and Databases are plaintext.
type Token struct {
	ID        string
	Name      string
	Role      string
	Databases []string // empty: every database
	Hash      []byte
	Created   time.Time
	Expires   time.Time // zero: never
}

// Maintenance is the deployment-wide maintenance switch: while Enabled,
// servers answer data requests with 503.
type Maintenance struct {
	Enabled bool
	Reason  string
	Since   time.Time
}
