package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/keyward/keyward/store"
)

// EntriesBelow implements [store.Store]. It walks the entries_rekey index
// (database, id), so each batch costs its own size, not the
// database's.
func (s *Store) EntriesBelow(ctx context.Context, dbID string, version uint32, afterID string, limit int) ([]store.Entry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: entries below: limit %d, want > 0", limit)
	}
	scan := func(sc scanner) (store.Entry, error) { return scanEntry(sc, true) }
	out, err := queryAll(ctx, s.read, scan, entriesBelowQuery, dbID, afterID, version, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: entries below: %w", err)
	}
	return out, nil
}

const entriesBelowQuery = "SELECT " + entryColumns + ", ciphertext FROM entries INDEXED BY entries_rekey" +
	" WHERE database_id = ? AND id > ? AND key_version < ? ORDER BY id LIMIT ?"

// AttachmentsBelow implements [store.Store].
func (s *Store) AttachmentsBelow(ctx context.Context, dbID string, version uint32, afterID string, limit int) ([]store.Attachment, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: attachments below: limit %d, want > 0", limit)
	}
	out, err := queryAll(ctx, s.read, scanAttachment, `SELECT a.id, a.entry_id, a.name, a.size, a.key_version,
		a.header, a.chunks, a.created FROM attachments a JOIN entries e ON e.id = a.entry_id
		WHERE e.database_id = ? AND a.id > ? AND a.key_version < ? ORDER BY a.id LIMIT ?`, dbID, afterID, version, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attachments below: %w", err)
	}
	return out, nil
}

// RewriteEntries implements [store.Store]: one transaction (one fsync) for
// the whole batch and the job's progress, one prepared UPDATE per row. (A
// multi-row UPDATE ... FROM (VALUES ...) RETURNING was measured slower: a
// statement that changes many rows and may fail midway keeps a statement
// journal.)
func (s *Store) RewriteEntries(ctx context.Context, l store.JobLease, rw []store.EntryRewrite, p func([]bool) store.JobProgress) ([]bool, error) {
	applied := make([]bool, len(rw))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if len(rw) == 0 {
			return saveProgress(ctx, tx, l, p(applied))
		}
		st, err := tx.PrepareContext(ctx, rewriteQuery)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, r := range rw {
			res, err := st.ExecContext(ctx, r.NewVersion, nonNil(r.Ciphertext), r.ID, r.Revision, r.OldVersion)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			applied[i] = n == 1
		}
		return saveProgress(ctx, tx, l, p(applied))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: rewrite entries: %w", err)
	}
	return applied, nil
}

// rewriteQuery replaces an entry's ciphertext and key version under
// compare-and-swap on its id, revision and old key version.
const rewriteQuery = "UPDATE entries SET key_version = ?, ciphertext = ? WHERE id = ? AND revision = ? AND key_version = ?"

// CommitAttachmentRewrite implements [store.Store]. It follows the order
// of an upload's Commit (writer.go): the .part file is synced, then, under
// the write lock, renamed and the directory synced before the row commits;
// the replaced attachment's file is removed after the commit.
func (s *Store) CommitAttachmentRewrite(ctx context.Context, l store.JobLease, aw store.AttachmentWriter, final store.Attachment, oldID string, p func(bool) store.JobProgress) (bool, error) {
	w, ok := aw.(*writer)
	if !ok || w.s != s {
		return false, errors.New("sqlite: commit attachment rewrite: the writer does not come from this store's BeginAttachment")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	swapped, err := w.commitRewrite(ctx, l, final, oldID, p)
	if err != nil {
		return false, fmt.Errorf("sqlite: commit attachment rewrite %s: %w", w.a.ID, err)
	}
	return swapped, nil
}

func (w *writer) commitRewrite(ctx context.Context, l store.JobLease, final store.Attachment, oldID string, p func(bool) store.JobProgress) (bool, error) {
	switch {
	case w.state == finished:
		return false, errClosed
	case w.state == doubtful:
		return false, errors.New("an earlier commit failed in a way that leaves its outcome unknown; Abort")
	case final.Chunks != w.next || final.Size < 0:
		return false, fmt.Errorf("%d chunks written, want %d", w.next, final.Chunks)
	}
	if w.state == writing {
		if err := w.syncPart(); err != nil {
			return false, err
		}
	}
	tx, err := w.s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	swapped, err := w.swap(ctx, tx, l, final, oldID, p)
	if err != nil {
		_ = tx.Rollback()
		return false, err
	}
	if err := tx.Commit(); err != nil {
		if swapped {
			w.state = doubtful
		}
		return false, err
	}
	if swapped {
		w.state = finished
		w.s.removeFiles([]string{oldID})
	}
	return swapped, nil
}

// swap runs in the transaction: the row swap if oldID is still in place,
// and the progress (which checks the lease).
func (w *writer) swap(ctx context.Context, tx *sql.Tx, l store.JobLease, final store.Attachment, oldID string, p func(bool) store.JobProgress) (bool, error) {
	var created int64
	err := tx.QueryRowContext(ctx, "SELECT created FROM attachments WHERE id = ? AND entry_id = ? AND name = ?",
		oldID, w.a.EntryID, w.a.Name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		// Replaced or deleted by a client meanwhile.
		return false, saveProgress(ctx, tx, l, p(false))
	}
	if err != nil {
		return false, err
	}
	if err := os.Rename(w.part, w.file); errors.Is(err, fs.ErrNotExist) {
		return false, errGone
	} else if err != nil {
		return false, err
	}
	err = saveProgress(ctx, tx, l, p(true))
	if err == nil {
		err = syncDir(w.s.dir)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, "DELETE FROM attachments WHERE id = ?", oldID)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO attachments
			(id, entry_id, name, size, key_version, header, chunks, stride, stored, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.a.ID, w.a.EntryID, w.a.Name, final.Size, w.a.KeyVersion, nonNil(w.a.Header),
			final.Chunks, w.stride, w.off, created)
	}
	if err != nil {
		if rerr := os.Rename(w.file, w.part); rerr != nil {
			w.state = doubtful
		}
		return false, err
	}
	return true, nil
}

// SetDataKeyState implements [store.Store].
func (s *Store) SetDataKeyState(ctx context.Context, dbID string, version uint32, state store.KeyState) error {
	if state != store.KeyActive && state != store.KeyRetired {
		return fmt.Errorf("sqlite: set data key state: %s is not active or retired (make a primary with AddDataKey)", state)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, used, err := keyStateAndUse(ctx, tx, dbID, version)
		switch {
		case err != nil:
			return err
		case cur == store.KeyPrimary:
			return fmt.Errorf("version %d is primary: %w", version, store.ErrConflict)
		case state == store.KeyRetired && used > 0:
			return fmt.Errorf("version %d is used by %d rows: %w", version, used, store.ErrConflict)
		}
		text, _ := stateText(state)
		_, err = tx.ExecContext(ctx, "UPDATE data_keys SET state = ? WHERE database_id = ? AND version = ?", text, dbID, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set data key state: %w", err)
	}
	return nil
}

// DestroyDataKey implements [store.Store].
func (s *Store) DestroyDataKey(ctx context.Context, dbID string, version uint32) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, used, err := keyStateAndUse(ctx, tx, dbID, version)
		switch {
		case err != nil:
			return err
		case cur != store.KeyRetired:
			return fmt.Errorf("version %d is %s, not retired: %w", version, cur, store.ErrConflict)
		case used > 0:
			return fmt.Errorf("version %d is used by %d rows: %w", version, used, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM data_keys WHERE database_id = ? AND version = ?", dbID, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: destroy data key: %w", err)
	}
	return nil
}

// keyStateAndUse reads a key version's state and how many entries and
// attachments use it, counting the rows themselves rather than trusting
// entry_key_usage: it decides whether key material may be destroyed. It
// scans the database's entries (no index holds key_version, see migration
// 0006), which is acceptable for an operation that rare. ErrNotFound.
func keyStateAndUse(ctx context.Context, q querier, dbID string, version uint32) (store.KeyState, int64, error) {
	var text string
	var used int64
	err := q.QueryRowContext(ctx, `SELECT state,
		(SELECT count(*) FROM entries WHERE database_id = ?1 AND key_version = ?2) +
		(SELECT count(*) FROM attachments a JOIN entries e ON e.id = a.entry_id
			WHERE e.database_id = ?1 AND a.key_version = ?2)
		FROM data_keys WHERE database_id = ?1 AND version = ?2`, dbID, version).Scan(&text, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("database %s has no key version %d: %w", dbID, version, store.ErrNotFound)
	}
	if err != nil {
		return 0, 0, err
	}
	st, err := parseState(text)
	return st, used, err
}
