package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/store"
)

// Chunks are buffered and written in one transaction once this many bytes
// or chunks are waiting, so memory stays bounded (about 1 MiB per upload)
// while a synchronous=FULL commit is paid once per batch.
const (
	flushBytes  = 1 << 20
	flushChunks = 16
)

// writer is the [store.AttachmentWriter] of a pending attachment.
type writer struct {
	s *Store
	a store.Attachment

	mu      sync.Mutex
	next    int64  // index the next WriteChunk must carry
	buf     []byte // buffered chunks, back to back
	ends    []int  // end offset in buf of each buffered chunk
	batches int    // full batches written with bulkTx
	done    bool   // committed or aborted
}

var errClosed = errors.New("the attachment was committed or aborted already")

// WriteChunk implements [store.AttachmentWriter]. Chunks must come in order.
// A chunk may be buffered until a later WriteChunk or Commit; if writing
// fails, the chunk is not accepted and may be written again.
func (w *writer) WriteChunk(ctx context.Context, index int64, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("sqlite: write chunk: %w", errClosed)
	}
	if index != w.next {
		return fmt.Errorf("sqlite: write chunk %d: chunks must come in order, want %d", index, w.next)
	}
	prev := len(w.buf)
	w.buf = append(w.buf, data...)
	w.ends = append(w.ends, len(w.buf))
	w.next++
	if len(w.buf) < flushBytes && len(w.ends) < flushChunks {
		return nil
	}
	if err := w.flush(ctx); err != nil {
		w.buf, w.ends, w.next = w.buf[:prev], w.ends[:len(w.ends)-1], w.next-1
		return fmt.Errorf("sqlite: write chunk %d: %w", index, err)
	}
	return nil
}

// flush writes the buffered chunks in one transaction.
func (w *writer) flush(ctx context.Context) error {
	if len(w.ends) == 0 {
		return nil
	}
	// A full batch is part of a bulk upload: it leaves the checkpoint to
	// the checkpointer (see checkpoint.go). A partial one comes from Commit.
	bulk := len(w.buf) >= flushBytes || len(w.ends) >= flushChunks
	txFn := w.s.tx
	if bulk {
		txFn = w.s.bulkTx
	}
	err := txFn(ctx, func(tx *sql.Tx) error {
		if err := w.touch(ctx, tx); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?, ?, ?)
			ON CONFLICT (attachment_id, idx) DO UPDATE SET data = excluded.data`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		first, start := w.next-int64(len(w.ends)), 0
		for i, end := range w.ends {
			if _, err := stmt.ExecContext(ctx, w.a.ID, first+int64(i), w.buf[start:end]); err != nil {
				return err
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.buf, w.ends = w.buf[:0], w.ends[:0]
	if bulk {
		w.batches++
		w.s.afterBatch(ctx, w.batches)
	}
	return nil
}

// touch records a write on the pending row, and fails if the row is gone.
func (w *writer) touch(ctx context.Context, tx *sql.Tx) error {
	res, err := tx.ExecContext(ctx, "UPDATE attachments SET touched = ? WHERE id = ? AND committed = 0",
		nanos(time.Now()), w.a.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return w.gone(ctx, tx)
	}
	return nil
}

// gone explains a missing pending row: ErrNotFound if the entry was
// deleted (which deletes its attachments), else the upload was removed.
func (w *writer) gone(ctx context.Context, tx *sql.Tx) error {
	var exists bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM entries WHERE id = ?)", w.a.EntryID).Scan(&exists)
	switch {
	case err != nil:
		return err
	case !exists:
		return fmt.Errorf("entry deleted during the upload: %w", store.ErrNotFound)
	}
	return errors.New("the upload was aborted, or removed after being idle too long")
}

// Commit implements [store.AttachmentWriter]. It fails, leaving the pending
// attachment as it was (Abort discards it), unless exactly the chunks
// 0..final.Chunks-1 are stored.
func (w *writer) Commit(ctx context.Context, final store.Attachment) (store.Attachment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return store.Attachment{}, fmt.Errorf("sqlite: commit attachment: %w", errClosed)
	}
	if final.Chunks < 0 || final.Size < 0 {
		return store.Attachment{}, errors.New("sqlite: commit attachment: negative size or chunk count")
	}
	if err := w.flush(ctx); err != nil {
		return store.Attachment{}, fmt.Errorf("sqlite: commit attachment: %w", err)
	}
	now := time.Now()
	err := w.s.tx(ctx, func(tx *sql.Tx) error {
		if err := w.touch(ctx, tx); err != nil {
			return err
		}
		var count, last int64
		err := tx.QueryRowContext(ctx, "SELECT count(*), coalesce(max(idx), -1) FROM attachment_chunks WHERE attachment_id = ?",
			w.a.ID).Scan(&count, &last)
		if err != nil {
			return err
		}
		if count != final.Chunks || last != final.Chunks-1 {
			return fmt.Errorf("%d chunks stored (last index %d), want %d", count, last, final.Chunks)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM attachments WHERE entry_id = ? AND name = ? AND committed = 1",
			w.a.EntryID, w.a.Name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE attachments SET committed = 1, size = ?, chunks = ?, created = ?, touched = NULL
			WHERE id = ?`, final.Size, final.Chunks, nanos(now), w.a.ID)
		return err
	})
	if err != nil {
		return store.Attachment{}, fmt.Errorf("sqlite: commit attachment: %w", err)
	}
	w.done, w.buf, w.ends = true, nil, nil
	out := w.a
	out.Size, out.Chunks, out.Created = final.Size, final.Chunks, stamp(now)
	return out, nil
}

// Abort implements [store.AttachmentWriter]. It runs even if ctx is
// cancelled (for a deferred clean-up), for at most abortTimeout.
func (w *writer) Abort(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if _, err := w.s.write.ExecContext(ctx, "DELETE FROM attachments WHERE id = ? AND committed = 0", w.a.ID); err != nil {
		return fmt.Errorf("sqlite: abort attachment: %w", err)
	}
	w.done, w.buf, w.ends = true, nil, nil
	return nil
}

const abortTimeout = 30 * time.Second
