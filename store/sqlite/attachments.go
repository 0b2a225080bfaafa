package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/store"
)

// BeginAttachment implements [store.Store]: it creates the upload's .part
// file (see writer.go). a.Size, a.Chunks and a.Created are ignored (Commit
// sets them). ErrExists if a.ID is taken.
func (s *Store) BeginAttachment(ctx context.Context, a store.Attachment) (store.AttachmentWriter, error) {
	if a.ID == "" || a.EntryID == "" {
		return nil, errors.New("sqlite: begin attachment: empty attachment or entry id")
	}
	if err := checkName("attachment name", a.Name); err != nil {
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	}
	file, err := s.filePath(a.ID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	}
	s.maybeSweep(ctx, time.Now())
	var entry, taken bool
	err = s.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM entries WHERE id = ?),
		EXISTS (SELECT 1 FROM attachments WHERE id = ?)`, a.EntryID, a.ID).Scan(&entry, &taken)
	switch {
	case err != nil:
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	case !entry:
		return nil, fmt.Errorf("sqlite: begin attachment: unknown entry: %w", store.ErrNotFound)
	case taken:
		return nil, fmt.Errorf("sqlite: begin attachment: %w", store.ErrExists)
	}
	if _, err := os.Lstat(file); err == nil {
		return nil, fmt.Errorf("sqlite: begin attachment: a file for id %s exists: %w", a.ID, store.ErrExists)
	}
	part := file + partSuffix
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite: begin attachment: an upload with id %s is under way: %w", a.ID, store.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin attachment: %w", err)
	}
	a.Size, a.Chunks, a.Created = 0, 0, time.Time{}
	return &writer{s: s, a: a, part: part, file: file, f: f, state: writing, wrote: time.Now()}, nil
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
	row := s.read.QueryRowContext(ctx, attachmentColumns+" WHERE entry_id = ? AND name = ?", entryID, name)
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
	out, err := queryAll(ctx, s.read, scanAttachment, attachmentColumns+" WHERE entry_id = ? ORDER BY name", entryID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attachments: %w", err)
	}
	return out, nil
}

// DeleteAttachment implements [store.Store]. The row goes in a transaction;
// the file is unlinked after it has committed.
func (s *Store) DeleteAttachment(ctx context.Context, entryID, name string) error {
	var ids []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = queryIDs(ctx, tx, "DELETE FROM attachments WHERE entry_id = ? AND name = ? RETURNING id", entryID, name)
		if err == nil && len(ids) == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete attachment: %w", err)
	}
	s.removeFiles(ids)
	return nil
}

// MaxChunksPerRead is the most chunks [Store.ReadAttachmentChunks] reads
// per call.
const MaxChunksPerRead = 64

// AttachmentChunk implements [store.Store]. A file that is missing or not
// of the recorded size gives an error wrapping [store.ErrCorrupt].
func (s *Store) AttachmentChunk(ctx context.Context, attachmentID string, index int64) ([]byte, error) {
	dst := [][]byte{nil}
	if _, err := s.readChunks(ctx, attachmentID, index, dst); err != nil {
		return nil, fmt.Errorf("sqlite: attachment chunk: %w", err)
	}
	return nonNil(dst[0]), nil
}

// ReadAttachmentChunks reads up to len(dst) consecutive chunks of a
// committed attachment, starting at index first, into buffers the caller
// keeps: chunk first+i replaces the contents of dst[i] (dst[i] is resliced,
// or grown if too small), so a caller that passes the same buffers again
// allocates nothing. It returns how many chunks it read: fewer than
// len(dst) only past the attachment's last chunk. ErrNotFound if chunk
// first does not exist or the attachment is not committed (or was deleted:
// every call checks the row); an error wrapping [store.ErrCorrupt] if the
// file is missing or not of the recorded size. At most [MaxChunksPerRead]
// chunks are read per call.
func (s *Store) ReadAttachmentChunks(ctx context.Context, attachmentID string, first int64, dst [][]byte) (int, error) {
	n, err := s.readChunks(ctx, attachmentID, first, dst)
	if err != nil {
		return 0, fmt.Errorf("sqlite: read attachment chunks: %w", err)
	}
	return n, nil
}

// layout is where an attachment's chunks are in its file.
type layout struct {
	chunks, stride, stored int64
}

// end returns the offset just past chunk i (0 <= i < chunks).
func (l layout) end(i int64) int64 {
	if i == l.chunks-1 {
		return l.stored
	}
	return (i + 1) * l.stride
}

func (s *Store) readChunks(ctx context.Context, attachmentID string, first int64, dst [][]byte) (int, error) {
	if len(dst) == 0 || len(dst) > MaxChunksPerRead {
		return 0, fmt.Errorf("%d chunks requested, want 1 to %d", len(dst), MaxChunksPerRead)
	}
	l, err := s.layoutOf(ctx, attachmentID)
	if err != nil {
		return 0, err
	}
	if first < 0 || first >= l.chunks {
		return 0, store.ErrNotFound
	}
	f, err := s.openFile(ctx, attachmentID, l)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := int(min(int64(len(dst)), l.chunks-first))
	for i := range n {
		idx := first + int64(i)
		start, end := idx*l.stride, l.end(idx)
		b := dst[i][:0]
		if int64(cap(b)) < end-start {
			b = make([]byte, 0, end-start)
		}
		b = b[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, damaged(attachmentID, "reading chunk %d: %v", idx, err)
		}
		dst[i] = b
	}
	return n, nil
}

// layoutOf reads an attachment's layout from its row. ErrNotFound.
func (s *Store) layoutOf(ctx context.Context, attachmentID string) (layout, error) {
	var l layout
	err := s.queryRow(ctx, layoutQuery, attachmentID).Scan(&l.chunks, &l.stride, &l.stored)
	if errors.Is(err, sql.ErrNoRows) {
		return layout{}, store.ErrNotFound
	}
	if err != nil {
		return layout{}, err
	}
	if l.chunks < 0 || l.stride < 0 || l.stored < 0 ||
		l.chunks > 0 && (l.stride > math.MaxInt64/l.chunks || l.stored < (l.chunks-1)*l.stride) {
		return layout{}, damaged(attachmentID, "its row records %d chunks of %d bytes in %d bytes", l.chunks, l.stride, l.stored)
	}
	return l, nil
}

// openFile opens a committed attachment's file and checks its size. A file
// missing because the attachment was deleted meanwhile gives ErrNotFound.
func (s *Store) openFile(ctx context.Context, id string, l layout) (*os.File, error) {
	p, err := s.filePath(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := s.layoutOf(ctx, id); err != nil {
			return nil, err // deleted meanwhile: ErrNotFound
		}
		return nil, damaged(id, "its file %s is missing", filepath.Join(AttachmentsDir, filepath.Base(p)))
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != l.stored {
		err = damaged(id, "its file is %d bytes, %d were stored (truncated or altered)", fi.Size(), l.stored)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
