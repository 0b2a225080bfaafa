package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

const entryColumns = "id, database_id, path, type, tags, created, updated, revision, key_version"

// scanEntry scans entryColumns, and the ciphertext if withData.
func scanEntry(sc scanner, withData bool) (store.Entry, error) {
	var (
		e                store.Entry
		tags             string
		created, updated int64
	)
	dest := []any{&e.ID, &e.DatabaseID, &e.Path, &e.Type, &tags, &created, &updated, &e.Revision, &e.KeyVersion}
	if withData {
		dest = append(dest, &e.Ciphertext)
	}
	if err := sc.Scan(dest...); err != nil {
		return store.Entry{}, err
	}
	e.Created, e.Updated = fromNanos(created), fromNanos(updated)
	var err error
	e.Tags, err = decodeTags(tags)
	return e, err
}

// entryQuery reads one entry with its ciphertext.
const entryQuery = "SELECT " + entryColumns + ", ciphertext FROM entries WHERE database_id = ? AND path = ?"

// Entry implements [store.Store]. A row read while the database has not
// changed since is served from the entry cache (rowcache.go).
func (s *Store) Entry(ctx context.Context, dbID, path string) (store.Entry, error) {
	key := entryKey{dbID, path}
	tok, cacheable := s.cache.token()
	if cacheable {
		if e, ok := s.cache.get(tok, key); ok {
			return e, nil
		}
	}
	row := s.queryRow(ctx, entryQuery, dbID, path)
	e, err := scanEntry(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Entry{}, fmt.Errorf("sqlite: entry: %w", err)
	}
	if cacheable {
		s.cache.put(tok, key, e)
	}
	return e, nil
}

// Entries implements [store.Store]. Paths sort bytewise.
func (s *Store) Entries(ctx context.Context, dbID, prefix, after string, limit int) ([]store.Entry, error) {
	query := "SELECT " + entryColumns + " FROM entries WHERE database_id = ? AND path >= ? AND path > ?"
	args := []any{dbID, prefix, after}
	if end, ok := prefixEnd(prefix); ok {
		query += " AND path < ?"
		args = append(args, end)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	query += " ORDER BY path LIMIT ?"
	args = append(args, limit)
	scan := func(sc scanner) (store.Entry, error) { return scanEntry(sc, false) }
	out, err := queryAll(ctx, s.read, scan, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: entries: %w", err)
	}
	return out, nil
}

// PutEntry implements [store.Store]. The Revision, Created and Updated of e
// are ignored. ErrNotFound if the database does not exist; ErrExists if
// e.ID belongs to another entry. Updated always moves forward, even if the
// clock does not. Concurrent calls share commits (group commit, see
// group.go); a call whose ctx ends after its write was taken into a batch
// still returns that write's result.
func (s *Store) PutEntry(ctx context.Context, e store.Entry, expect int64) (store.Entry, error) {
	if err := checkEntry(e, expect); err != nil {
		return store.Entry{}, fmt.Errorf("sqlite: put entry: %w", err)
	}
	tags, err := encodeTags(e.Tags)
	if err != nil {
		return store.Entry{}, fmt.Errorf("sqlite: put entry: %w", err)
	}
	var created, updated, revision int64
	err = s.runOp(ctx, func(ctx context.Context, q execer) error {
		now := nanos(time.Now())
		var err error
		if expect == 0 {
			err = q.QueryRowContext(ctx, insertEntry,
				e.ID, e.DatabaseID, e.Path, e.Type, tags, now, e.KeyVersion, nonNil(e.Ciphertext),
			).Scan(&created, &updated, &revision)
		} else {
			err = q.QueryRowContext(ctx, updateEntry,
				e.Type, tags, now, e.KeyVersion, nonNil(e.Ciphertext), e.DatabaseID, e.Path, e.ID, expect,
			).Scan(&created, &updated, &revision)
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = store.ErrConflict
		case isConstraint(err, codeForeignKey):
			err = fmt.Errorf("unknown database: %w", store.ErrNotFound)
		case isDuplicate(err):
			err = store.ErrExists
		}
		return err
	})
	if err != nil {
		return store.Entry{}, fmt.Errorf("sqlite: put entry: %w", err)
	}
	e.Created, e.Updated, e.Revision = fromNanos(created), fromNanos(updated), revision
	e.Tags, _ = decodeTags(tags)
	e.Ciphertext = nonNil(e.Ciphertext)
	return e, nil
}

// insertEntry creates an entry unless its path exists (then no row). Its
// revision starts above every revision deleted from its database
// (schema 8), so a compare-and-swap meant for an entry deleted from this
// path cannot match it. An unknown database leaves the floor NULL,
// coalesced so that the foreign key reports it.
const insertEntry = `INSERT INTO entries
	(id, database_id, path, type, tags, created, updated, revision, key_version, ciphertext)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6,
		coalesce((SELECT revision_floor FROM databases WHERE id = ?2), 0) + 1, ?7, ?8)
	ON CONFLICT (database_id, path) DO NOTHING
	RETURNING created, updated, revision`

// updateEntry is the compare-and-swap: no row unless revision and id match.
const updateEntry = `UPDATE entries
	SET type = ?1, tags = ?2, updated = max(?3, updated + 1), revision = revision + 1,
		key_version = ?4, ciphertext = ?5
	WHERE database_id = ?6 AND path = ?7 AND id = ?8 AND revision = ?9
	RETURNING created, updated, revision`

func checkEntry(e store.Entry, expect int64) error {
	if expect < 0 {
		return fmt.Errorf("expected revision %d (must be 0 to create or the current revision)", expect)
	}
	if e.ID == "" || e.DatabaseID == "" {
		return errors.New("empty entry or database id")
	}
	if err := checkName("path", e.Path); err != nil {
		return err
	}
	if e.Type == "" {
		return nil
	}
	return checkName("type", e.Type)
}

// DeleteEntry implements [store.Store]. Its attachments' rows go with it
// (ON DELETE CASCADE); their files are unlinked after the commit.
// Concurrent calls share commits, as for PutEntry.
func (s *Store) DeleteEntry(ctx context.Context, dbID, path string, expect int64) error {
	if expect < 0 && expect != store.AnyRevision {
		return fmt.Errorf("sqlite: delete entry: invalid expected revision %d", expect)
	}
	var files []string
	err := s.runOp(ctx, func(ctx context.Context, q execer) error {
		var err error
		files, err = queryIDs(ctx, q, `SELECT a.id FROM attachments a JOIN entries e ON e.id = a.entry_id
			WHERE e.database_id = ? AND e.path = ? AND (? < 0 OR e.revision = ?)`, dbID, path, expect, expect)
		if err != nil {
			return err
		}
		var deleted int64
		err = q.QueryRowContext(ctx,
			"DELETE FROM entries WHERE database_id = ? AND path = ? AND (? < 0 OR revision = ?) RETURNING revision",
			dbID, path, expect, expect).Scan(&deleted)
		if err == nil {
			// The next entry at any path of this database starts above.
			_, err = q.ExecContext(ctx,
				"UPDATE databases SET revision_floor = max(revision_floor, ?) WHERE id = ?", deleted, dbID)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		files = nil
		var exists bool
		err = q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM entries WHERE database_id = ? AND path = ?)",
			dbID, path).Scan(&exists)
		switch {
		case err != nil:
			return err
		case exists:
			return store.ErrConflict
		}
		return store.ErrNotFound
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete entry: %w", err)
	}
	s.removeFiles(files)
	return nil
}
