package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// abandonAfter is how long a pending attachment may go without a write
// before Open or BeginAttachment (of any process) removes it as abandoned.
// A live upload writes at least every flushChunks chunks (1 MiB), so only
// an upload slower than 1 MiB per abandonAfter is cut off.
const abandonAfter = 15 * time.Minute

// BeginAttachment implements [store.Store]. a.Size, a.Chunks and a.Created
// are ignored (Commit sets them). ErrExists if a.ID is taken.
func (s *Store) BeginAttachment(ctx context.Context, a store.Attachment) (store.AttachmentWriter, error) {
	if a.ID == "" || a.EntryID == "" {
		return nil, errors.New("sqlite: begin attachment: empty attachment or entry id")
	}
	if err := checkName("attachment name", a.Name); err != nil {
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	}
	now := time.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deletePending, nanos(now.Add(-abandonAfter)))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO attachments
			(id, entry_id, name, size, key_version, header, chunks, created, committed, touched)
			VALUES (?1, ?2, ?3, 0, ?4, ?5, 0, ?6, 0, ?6)`,
			a.ID, a.EntryID, a.Name, a.KeyVersion, nonNil(a.Header), nanos(now))
		switch {
		case isConstraint(err, codeForeignKey):
			return fmt.Errorf("unknown entry: %w", store.ErrNotFound)
		case isDuplicate(err):
			return store.ErrExists
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	}
	a.Size, a.Chunks, a.Created = 0, 0, time.Time{}
	return &writer{s: s, a: a}, nil
}

// deletePending removes pending attachments (and, by cascade, their chunks)
// last written before a time.
const deletePending = "DELETE FROM attachments WHERE committed = 0 AND touched < ?"

// removePending removes the pending attachments last written before t.
func (s *Store) removePending(ctx context.Context, t time.Time) error {
	if _, err := s.write.ExecContext(ctx, deletePending, nanos(t)); err != nil {
		return fmt.Errorf("remove unfinished attachments: %w", err)
	}
	return nil
}

const attachmentColumns = "SELECT id, entry_id, name, size, key_version, header, chunks, created FROM attachments"

func scanAttachment(sc scanner) (store.Attachment, error) {
	var (
		a       store.Attachment
		created int64
	)
	err := sc.Scan(&a.ID, &a.EntryID, &a.Name, &a.Size, &a.KeyVersion, &a.Header, &a.Chunks, &created)
	a.Created = fromNanos(created)
	return a, err
}

// Attachment implements [store.Store].
func (s *Store) Attachment(ctx context.Context, entryID, name string) (store.Attachment, error) {
	row := s.read.QueryRowContext(ctx, attachmentColumns+" WHERE entry_id = ? AND name = ? AND committed = 1",
		entryID, name)
	a, err := scanAttachment(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Attachment{}, fmt.Errorf("sqlite: attachment: %w", err)
	}
	return a, nil
}

// Attachments implements [store.Store].
func (s *Store) Attachments(ctx context.Context, entryID string) ([]store.Attachment, error) {
	out, err := queryAll(ctx, s.read, scanAttachment,
		attachmentColumns+" WHERE entry_id = ? AND committed = 1 ORDER BY name", entryID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attachments: %w", err)
	}
	return out, nil
}

// AttachmentChunk implements [store.Store].
func (s *Store) AttachmentChunk(ctx context.Context, attachmentID string, index int64) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, `SELECT c.data FROM attachment_chunks c
		JOIN attachments a ON a.id = c.attachment_id
		WHERE c.attachment_id = ? AND c.idx = ? AND a.committed = 1`, attachmentID, index).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: attachment chunk: %w", err)
	}
	return nonNil(data), nil
}

// DeleteAttachment implements [store.Store]. Its chunks go with it.
func (s *Store) DeleteAttachment(ctx context.Context, entryID, name string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM attachments WHERE entry_id = ? AND name = ? AND committed = 1",
		entryID, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete attachment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete attachment: %w", store.ErrNotFound)
	}
	return nil
}
