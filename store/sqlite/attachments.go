package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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

// chunkQuery selects the chunks of a committed attachment (?1) with
// indexes ?2..?3, in order. It walks the primary key (attachment_id, idx).
const chunkQuery = `SELECT c.idx, c.data FROM attachment_chunks c
	JOIN attachments a ON a.id = c.attachment_id
	WHERE c.attachment_id = ?1 AND c.idx BETWEEN ?2 AND ?3 AND a.committed = 1
	ORDER BY c.idx`

// MaxChunksPerRead is the most chunks [Store.ReadAttachmentChunks] reads
// in one query.
const MaxChunksPerRead = 64

// AttachmentChunk implements [store.Store].
func (s *Store) AttachmentChunk(ctx context.Context, attachmentID string, index int64) ([]byte, error) {
	dst := [][]byte{nil}
	if _, err := s.readChunks(ctx, attachmentID, index, dst); err != nil {
		return nil, fmt.Errorf("sqlite: attachment chunk: %w", err)
	}
	return nonNil(dst[0]), nil
}

// ReadAttachmentChunks reads, in one query, the stored bytes of up to
// len(dst) consecutive chunks of a committed attachment, starting at index
// first, into buffers the caller keeps: chunk first+i replaces the contents
// of dst[i] (dst[i] = append(dst[i][:0], chunk...)), so a caller that passes
// the same buffers again allocates nothing. It returns how many chunks it
// read: fewer than len(dst) where the attachment has no chunk at some index
// after first (past its end, or where a row is missing); chunks after such a
// gap are not read. ErrNotFound if chunk first does not exist or the
// attachment is not committed. At most [MaxChunksPerRead] chunks are read per
// call. The chunks come from one snapshot of the database, which is not held
// after the call returns.
func (s *Store) ReadAttachmentChunks(ctx context.Context, attachmentID string, first int64, dst [][]byte) (int, error) {
	n, err := s.readChunks(ctx, attachmentID, first, dst)
	if err != nil {
		return 0, fmt.Errorf("sqlite: read attachment chunks: %w", err)
	}
	return n, nil
}

func (s *Store) readChunks(ctx context.Context, attachmentID string, first int64, dst [][]byte) (int, error) {
	if len(dst) == 0 || len(dst) > MaxChunksPerRead {
		return 0, fmt.Errorf("%d chunks requested, want 1 to %d", len(dst), MaxChunksPerRead)
	}
	if first < 0 || first > math.MaxInt64-int64(len(dst)) {
		return 0, store.ErrNotFound
	}
	stmt, err := s.chunkStmt(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := stmt.QueryContext(ctx, attachmentID, first, first+int64(len(dst))-1)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for n < len(dst) && rows.Next() {
		var (
			idx  int64
			data sql.RawBytes // valid until the next Next: copied at once
		)
		if err := rows.Scan(&idx, &data); err != nil {
			return 0, err
		}
		if idx != first+int64(n) {
			break // a missing row: stop at the gap
		}
		dst[n] = append(dst[n][:0], data...)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, store.ErrNotFound
	}
	return n, nil
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
