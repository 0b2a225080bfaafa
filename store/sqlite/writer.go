package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/keyward/keyward/store"
)

// writer is the [store.AttachmentWriter] of an upload: it appends chunks to
// <id>.part in the attachments directory.
//
// Commit makes the upload durable and visible in this order: fsync the
// .part file, then, holding SQLite's write lock (BEGIN IMMEDIATE), rename
// it to its final name, fsync the directory, and commit the row (which
// replaces a same-name attachment's row); only after that commit are the
// replaced attachment's file unlinked. A crash at any point leaves at worst
// a file without a row, never a row without its file. Because the rename
// happens under the write lock, a sweep (which also takes the lock before
// removing a final-named file) never sees a renamed file whose row is about
// to be committed.
type writer struct {
	s    *Store
	a    store.Attachment
	part string // path of <id>.part
	file string // path of the committed file

	mu     sync.Mutex
	f      *os.File  // the .part file while chunks may be written
	next   int64     // index the next WriteChunk must carry
	off    int64     // bytes accepted (written or in buf)
	buf    []byte    // accepted chunks not yet written, from offset off-len(buf)
	wrote  time.Time // when the .part file was last written (or created)
	stride int64     // length of chunk 0
	odd    bool      // the last chunk written is not stride bytes: no chunk may follow
	state  writerState
}

type writerState int

const (
	writing  writerState = iota + 1 // chunks go to the .part file
	synced                          // .part synced and closed; Commit may be retried
	doubtful                        // renamed, but the row's commit failed: it may or may not have committed
	finished                        // committed or aborted
)

// testHookRenamed, if set (by tests), runs in Commit between the rename
// and the row's insertion; an error it returns fails the Commit there.
var testHookRenamed func(id string) error

var errClosed = errors.New("the attachment was committed or aborted already")

// errGone explains a .part file that disappeared.
var errGone = fmt.Errorf("the upload was aborted, or removed after going %v without a write; upload it again", abandonAfter)

// WriteChunk implements [store.AttachmentWriter]. Chunks must come in
// order, and every chunk but the last must be as long as chunk 0: a chunk
// that follows a chunk of another length is refused. If writing fails, the
// chunk is not accepted and may be written again.
func (w *writer) WriteChunk(ctx context.Context, index int64, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.state == finished:
		return fmt.Errorf("sqlite: write chunk: %w", errClosed)
	case w.state != writing:
		return errors.New("sqlite: write chunk: Commit was called already; Abort the upload and start again")
	case index != w.next:
		return fmt.Errorf("sqlite: write chunk %d: chunks must come in order, want %d", index, w.next)
	case w.odd:
		return fmt.Errorf("sqlite: write chunk %d: chunk %d was %d bytes, not %d like chunk 0, so it had to be the last; "+
			"every chunk but the last must have the length of chunk 0", index, index-1, w.lastLen(), w.stride)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: write chunk %d: %w", index, err)
	}
	w.buf = append(w.buf, data...)
	w.off += int64(len(data))
	if len(w.buf) >= writeBatch || time.Since(w.wrote) >= writeDelay {
		if err := w.flush(); err != nil {
			// This chunk is not accepted; the ones before it stay buffered.
			w.buf, w.off = w.buf[:len(w.buf)-len(data)], w.off-int64(len(data))
			return fmt.Errorf("sqlite: write chunk %d: %w", index, err)
		}
	}
	if index == 0 {
		w.stride = int64(len(data))
	}
	w.odd = int64(len(data)) != w.stride
	w.next++
	return nil
}

// WriteChunks implements [store.ChunkBatchWriter]: the rules of WriteChunk
// apply to each chunk of data. The batch is written at once, with one
// WriteAt from data itself (after the chunks that WriteChunk buffered, if
// any). If a rule is broken or writing fails, none of the batch is
// accepted: the upload is as before the call.
func (w *writer) WriteChunks(ctx context.Context, first int64, data []byte, chunkLen int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkBatch(first, len(data), chunkLen); err != nil {
		return fmt.Errorf("sqlite: write chunks from %d: %w", first, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: write chunks from %d: %w", first, err)
	}
	// The chunks buffered by WriteChunk go first; if they fail, they stay
	// buffered, as after a failed WriteChunk.
	if err := w.flush(); err != nil {
		return fmt.Errorf("sqlite: write chunks from %d: %w", first, err)
	}
	if _, err := w.f.WriteAt(data, w.off); err != nil {
		_ = w.f.Truncate(w.off) // best effort; Commit checks the size anyway
		return fmt.Errorf("sqlite: write chunks from %d: %w", first, err)
	}
	n := (int64(len(data)) + int64(chunkLen) - 1) / int64(chunkLen)
	lastLen := int64(len(data)) - (n-1)*int64(chunkLen)
	if first == 0 {
		w.stride = min(int64(chunkLen), int64(len(data)))
	}
	w.odd = lastLen != w.stride
	w.off += int64(len(data))
	w.next += n
	w.wrote = time.Now()
	return nil
}

// checkBatch checks a batch of chunks against the writer's state and
// WriteChunk's rules.
func (w *writer) checkBatch(first int64, size, chunkLen int) error {
	switch {
	case w.state == finished:
		return errClosed
	case w.state != writing:
		return errors.New("Commit was called already; Abort the upload and start again")
	case first != w.next:
		return fmt.Errorf("chunks must come in order, want %d", w.next)
	case w.odd:
		return fmt.Errorf("chunk %d was %d bytes, not %d like chunk 0, so it had to be the last; "+
			"every chunk but the last must have the length of chunk 0", first-1, w.lastLen(), w.stride)
	case chunkLen <= 0 || size == 0:
		return fmt.Errorf("a batch of %d bytes in chunks of %d; want at least one byte and a positive chunk length", size, chunkLen)
	case w.next > 0 && int64(chunkLen) != w.stride && size > chunkLen:
		// Several chunks, the first of which is not the last: it must be
		// as long as chunk 0.
		return fmt.Errorf("chunks of %d bytes, not %d like chunk 0; every chunk but the last must have the length of chunk 0", chunkLen, w.stride)
	}
	return nil
}

// Chunks are written to the .part file in batches of about writeBatch
// bytes (one system call instead of sixteen), and at once when the file
// was last written writeDelay ago or more, so that the file of an upload
// that still receives chunks is never idle for long (the sweep removes
// .part files idle for abandonAfter).
const (
	writeBatch = 1 << 20
	writeDelay = time.Minute
)

// flush writes buf at its offset. On failure buf is kept: a later flush
// writes it again at the same place.
func (w *writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	start := w.off - int64(len(w.buf))
	if _, err := w.f.WriteAt(w.buf, start); err != nil {
		_ = w.f.Truncate(start) // best effort; Commit checks the size anyway
		return err
	}
	w.buf, w.wrote = w.buf[:0], time.Now()
	return nil
}

// lastLen is the length of the last chunk written (next >= 1).
func (w *writer) lastLen() int64 { return w.off - (w.next-1)*w.stride }

// Commit implements [store.AttachmentWriter]. It fails, leaving nothing
// visible changed, unless exactly the chunks 0..final.Chunks-1 were
// written; the writer can then still Abort (or, after a failure past the
// chunk check, Commit again).
func (w *writer) Commit(ctx context.Context, final store.Attachment) (store.Attachment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == finished {
		return store.Attachment{}, fmt.Errorf("sqlite: commit attachment: %w", errClosed)
	}
	out, err := w.commit(ctx, final)
	if err != nil {
		return store.Attachment{}, fmt.Errorf("sqlite: commit attachment %s: %w", w.a.ID, err)
	}
	return out, nil
}

func (w *writer) commit(ctx context.Context, final store.Attachment) (store.Attachment, error) {
	switch {
	case w.state == doubtful:
		return store.Attachment{}, errors.New("an earlier Commit failed in a way that leaves its outcome unknown; Abort, then read the attachment to see whether it was stored")
	case final.Chunks < 0 || final.Size < 0:
		return store.Attachment{}, errors.New("negative size or chunk count")
	case final.Chunks != w.next:
		return store.Attachment{}, fmt.Errorf("%d chunks written, want %d", w.next, final.Chunks)
	}
	if w.state == writing {
		if err := w.syncPart(); err != nil {
			return store.Attachment{}, err
		}
	}
	now := time.Now()
	var replaced []string
	tx, err := w.s.write.BeginTx(ctx, nil)
	if err != nil {
		return store.Attachment{}, err
	}
	if replaced, err = w.publish(ctx, tx, final, now); err != nil {
		_ = tx.Rollback()
		return store.Attachment{}, err
	}
	if err := tx.Commit(); err != nil {
		w.state = doubtful // SQLite may have made the row durable all the same
		return store.Attachment{}, err
	}
	w.state = finished
	w.s.removeFiles(replaced)
	out := w.a
	out.Size, out.Chunks, out.Created = final.Size, final.Chunks, stamp(now)
	return out, nil
}

// syncPart makes the written chunks durable and closes the .part file.
func (w *writer) syncPart() error {
	if err := w.flush(); err != nil {
		return err
	}
	w.buf = nil
	fi, err := w.f.Stat()
	if err == nil && fi.Size() != w.off {
		err = fmt.Errorf("the upload file is %d bytes, %d were written", fi.Size(), w.off)
	}
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f, w.state = nil, synced
	return nil
}

// publish runs in the commit transaction, which holds SQLite's write lock:
// it checks the entry, renames the .part file to its final name, syncs the
// directory and writes the row. It returns the ids whose files to remove
// once the transaction has committed. On an error after the rename it
// renames the file back, so the upload is pending again.
func (w *writer) publish(ctx context.Context, tx *sql.Tx, final store.Attachment, now time.Time) ([]string, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM entries WHERE id = ?)", w.a.EntryID).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("entry deleted during the upload: %w", store.ErrNotFound)
	}
	replaced, err := queryIDs(ctx, tx, "SELECT id FROM attachments WHERE entry_id = ? AND name = ?", w.a.EntryID, w.a.Name)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(w.part, w.file); errors.Is(err, fs.ErrNotExist) {
		return nil, errGone
	} else if err != nil {
		return nil, err
	}
	err = syncDir(w.s.dir)
	if err == nil && testHookRenamed != nil {
		err = testHookRenamed(w.a.ID)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, "DELETE FROM attachments WHERE entry_id = ? AND name = ?", w.a.EntryID, w.a.Name)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO attachments
			(id, entry_id, name, size, key_version, header, chunks, stride, stored, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.a.ID, w.a.EntryID, w.a.Name, final.Size, w.a.KeyVersion, nonNil(w.a.Header),
			final.Chunks, w.stride, w.off, nanos(now))
		if isDuplicate(err) {
			err = fmt.Errorf("attachment id taken: %w", store.ErrExists)
		}
	}
	if err != nil {
		if rerr := os.Rename(w.file, w.part); rerr != nil {
			w.state = doubtful // the row was not written: Abort removes the file
		}
		return nil, err
	}
	return replaced, nil
}

// Abort implements [store.AttachmentWriter]: it removes the upload's file.
// After a Commit whose outcome is unknown, it removes the file only if no
// row refers to it. It runs even if ctx is cancelled (for a deferred
// clean-up), for at most abortTimeout.
func (w *writer) Abort(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case finished:
		return nil
	case writing:
		_ = w.f.Close()
		w.f, w.buf = nil, nil
	case doubtful:
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if err := w.s.removeOrphans(ctx, []string{w.a.ID}); err != nil {
			return fmt.Errorf("sqlite: abort attachment %s: %w", w.a.ID, err)
		}
	}
	w.state = finished
	if err := os.Remove(w.part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: abort attachment: %w", err)
	}
	return nil
}

const abortTimeout = 30 * time.Second

// queryIDs returns the first column of every row.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
