package keyward

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// Database is a handle on one database of an open deployment.
type Database struct {
	kw *Keyward
	db store.Database
}

// DatabaseInfo describes a database.
type DatabaseInfo struct {
	Name    string
	Created time.Time
}

// Entry is a record: plaintext metadata and secret fields.
type Entry struct {
	Path   string
	Type   string
	Tags   []string
	Fields map[string]string // secret; nil in List results
	// Revision is the stored revision. On Put, a non-zero Revision is the
	// revision the write expects to replace (compare-and-swap).
	Revision   int64
	KeyVersion uint32
	Created    time.Time
	Updated    time.Time
}

// payload is what the record ciphertext holds. New keys may be added;
// readers ignore what they do not know.
type payload struct {
	Fields map[string]string `json:"fields"`
}

// CreateDatabase creates a database with its first data key.
// ErrExists if the name is taken.
func (kw *Keyward) CreateDatabase(ctx context.Context, name string) (*Database, error) {
	if err := checkDBName(name); err != nil {
		return nil, err
	}
	db := store.Database{ID: newID(), Name: name, Created: time.Now().UTC()}
	// The root key is held until the key is stored (see RotateRoot), and
	// the key is wrapped again if another process rotated it.
	err := kw.kr.WithRoot(ctx, func() error {
		dk, err := kw.kr.NewDatabaseKey(ctx, db.ID)
		if err != nil {
			return err
		}
		return kw.st.CreateDatabase(ctx, db, dk)
	})
	if err != nil {
		return nil, fmt.Errorf("keyward: create database %q: %w", name, err)
	}
	return &Database{kw: kw, db: db}, nil
}

// Database returns the named database. ErrNotFound if there is none.
func (kw *Keyward) Database(ctx context.Context, name string) (*Database, error) {
	// A database never changes its name or id once created (and is never
	// removed), so a lookup that found one stays true: remember it. A miss
	// is not remembered, so a database another process creates appears at
	// once.
	if db, ok := kw.dbs.Load(name); ok {
		return &Database{kw: kw, db: db.(store.Database)}, nil
	}
	db, err := kw.st.Database(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("keyward: database %q: %w; create it with `keyward db create %s`", name, err, name)
		}
		return nil, err
	}
	kw.dbs.Store(name, db)
	return &Database{kw: kw, db: db}, nil
}

// Databases lists every database by name.
func (kw *Keyward) Databases(ctx context.Context) ([]DatabaseInfo, error) {
	dbs, err := kw.st.Databases(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DatabaseInfo, len(dbs))
	for i, d := range dbs {
		out[i] = DatabaseInfo{Name: d.Name, Created: d.Created}
	}
	return out, nil
}

// Name returns the database's name.
func (d *Database) Name() string { return d.db.Name }

// Get returns the entry at path with its fields decrypted. ErrNotFound if
// there is none; an *IntegrityError if its ciphertext does not open.
func (d *Database) Get(ctx context.Context, path string) (Entry, error) {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return Entry{}, d.notFound(path, err)
	}
	dek, err := d.kw.kr.Version(ctx, d.db.ID, se.KeyVersion)
	if err != nil {
		return Entry{}, d.integrity(se, err)
	}
	pt, err := crypt.OpenRecord(dek.AEAD, d.entryContext(se.ID, se.Path), se.Ciphertext)
	if err != nil {
		return Entry{}, d.integrity(se, err)
	}
	defer clear(pt)
	var p payload
	if err := json.Unmarshal(pt, &p); err != nil {
		return Entry{}, d.integrity(se, errors.New("decrypted payload is not valid"))
	}
	e := fromStore(se)
	e.Fields = p.Fields
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	return e, nil
}

// List returns the metadata (no fields) of entries whose path starts with
// prefix, ordered by path.
func (d *Database) List(ctx context.Context, prefix string) ([]Entry, error) {
	return d.ListPage(ctx, prefix, "", 0)
}

// ListPage is List one page at a time: at most limit entries (limit <= 0:
// all) whose path sorts after `after` (bytewise; "" starts at the
// beginning). To get the next page, pass the last path of this one.
func (d *Database) ListPage(ctx context.Context, prefix, after string, limit int) ([]Entry, error) {
	ses, err := d.kw.st.Entries(ctx, d.db.ID, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(ses))
	for i, se := range ses {
		out[i] = fromStore(se)
	}
	return out, nil
}

// Put writes e. With e.Revision == 0 it creates or replaces the entry
// whatever its revision (retrying internally on concurrent writes); with
// e.Revision == N it fails with ErrConflict unless the stored revision is
// N. It returns the stored entry with its new Revision.
func (d *Database) Put(ctx context.Context, e Entry) (Entry, error) {
	if err := checkEntry(e); err != nil {
		return Entry{}, err
	}
	for attempt := 1; ; attempt++ {
		cur, err := d.kw.st.Entry(ctx, d.db.ID, e.Path)
		var id string
		var expect int64
		switch {
		case errors.Is(err, store.ErrNotFound):
			if e.Revision != 0 {
				return Entry{}, fmt.Errorf("keyward: entry %q: %w (it does not exist, expected revision %d)", e.Path, ErrConflict, e.Revision)
			}
			id = newID()
		case err != nil:
			return Entry{}, err
		default:
			if e.Revision != 0 && cur.Revision != e.Revision {
				return Entry{}, conflict(e.Path, e.Revision, cur.Revision)
			}
			id, expect = cur.ID, cur.Revision
		}
		stored, err := d.write(ctx, id, e, expect)
		if errors.Is(err, store.ErrConflict) && e.Revision == 0 && attempt < maxPutAttempts {
			continue // someone wrote in between; an unconditional put tries again
		}
		if errors.Is(err, store.ErrConflict) {
			return Entry{}, fmt.Errorf("keyward: entry %q: %w: it changed while being written (%d attempts); read it again and retry", e.Path, ErrConflict, attempt)
		}
		return stored, err
	}
}

// maxPutAttempts bounds how often an unconditional Put retries when other
// writers keep changing the same entry.
const maxPutAttempts = 64

// Create writes a new entry. ErrExists if the path is taken.
func (d *Database) Create(ctx context.Context, e Entry) (Entry, error) {
	if err := checkEntry(e); err != nil {
		return Entry{}, err
	}
	stored, err := d.write(ctx, newID(), e, 0)
	if errors.Is(err, store.ErrConflict) {
		return Entry{}, fmt.Errorf("keyward: entry %q: %w", e.Path, ErrExists)
	}
	return stored, err
}

func (d *Database) write(ctx context.Context, id string, e Entry, expect int64) (Entry, error) {
	pt, err := json.Marshal(payload{Fields: e.Fields})
	if err != nil {
		return Entry{}, err
	}
	defer clear(pt)
	dek, err := d.kw.kr.Encrypter(ctx, d.db.ID)
	if err != nil {
		return Entry{}, err
	}
	ct := crypt.SealRecord(dek.AEAD, dek.Version, d.entryContext(id, e.Path), pt)
	se, err := d.kw.st.PutEntry(ctx, store.Entry{
		ID: id, DatabaseID: d.db.ID, Path: e.Path, Type: e.Type, Tags: e.Tags,
		KeyVersion: dek.Version, Ciphertext: ct,
	}, expect)
	if err != nil {
		return Entry{}, err
	}
	out := fromStore(se)
	out.Fields = e.Fields
	return out, nil
}

// Delete removes the entry at path and its attachments. revision 0 deletes
// whatever the revision; otherwise ErrConflict unless it matches.
func (d *Database) Delete(ctx context.Context, path string, revision int64) error {
	expect := store.AnyRevision
	if revision != 0 {
		expect = revision
	}
	err := d.kw.st.DeleteEntry(ctx, d.db.ID, path, expect)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("keyward: entry %q: %w: it changed since revision %d", path, err, revision)
	}
	return d.notFound(path, err)
}

// entryContext binds an entry's ciphertext to its deployment, database, id
// and path: moved to another row, path, database or deployment, it fails.
func (d *Database) entryContext(id, path string) crypt.Context {
	return crypt.Context{Deployment: d.kw.DeploymentID(), Database: d.db.ID, Record: id + ":" + path, Purpose: "entry"}
}

func (d *Database) notFound(path string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keyward: entry %q in database %q: %w", path, d.db.Name, err)
	}
	return err
}

func (d *Database) integrity(se store.Entry, err error) error {
	if errors.Is(err, ErrSealed) || errors.Is(err, ErrRootRotated) {
		return err // the process's state, not the entry's
	}
	return &IntegrityError{Database: d.db.Name, Path: se.Path, EntryID: se.ID, KeyVersion: se.KeyVersion, Err: err}
}

func conflict(path string, want, have int64) error {
	return fmt.Errorf("keyward: entry %q: %w: expected revision %d, stored revision is %d; read it again and retry", path, ErrConflict, want, have)
}

func fromStore(se store.Entry) Entry {
	return Entry{Path: se.Path, Type: se.Type, Tags: se.Tags, Revision: se.Revision,
		KeyVersion: se.KeyVersion, Created: se.Created, Updated: se.Updated}
}

// newID returns a random 128-bit id in hex.
func newID() string {
	b := make([]byte, 16)
	mustRand(b)
	return hex.EncodeToString(b)
}
