package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyward/keyward/store"
)

// OpenChunkStream implements [store.ChunkStreamOpener]: the stream is the
// attachment's file, held open, so a read is one pread with no query.
//
// The row is read and the file's size checked once, here. After that the
// stream reads the file it opened: if the attachment is deleted or
// replaced meanwhile, the stream goes on reading the old file, a snapshot
// of the attachment as it was when the stream was opened, every byte of it
// the committed ciphertext. (On Unix the unlinked file stays readable
// while open; on Windows, where an open file cannot be removed, removing
// it fails and the sweep removes it later, as any orphan.) If the file itself is damaged while open
// (truncated in place), a read that finds less than the recorded size
// fails with an error wrapping [store.ErrCorrupt]. ErrNotFound for an
// unknown, uncommitted or deleted attachment.
func (s *Store) OpenChunkStream(ctx context.Context, attachmentID string) (store.ChunkStream, error) {
	l, err := s.layoutOf(ctx, attachmentID)
	if err == nil {
		var f *os.File
		if f, err = s.openFile(ctx, attachmentID, l); err == nil {
			return &chunkStream{f: f, id: attachmentID, size: l.stored}, nil
		}
	}
	return nil, fmt.Errorf("sqlite: open chunk stream: %w", err)
}

// chunkStream is the [store.ChunkStream] of one attachment file.
type chunkStream struct {
	f    *os.File
	id   string
	size int64
}

// Size implements [store.ChunkStream].
func (c *chunkStream) Size() int64 { return c.size }

// ReadAt implements [store.ChunkStream]. It reads into p directly.
func (c *chunkStream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("sqlite: chunk stream: read at a negative offset")
	}
	if off >= c.size {
		return 0, io.EOF
	}
	want := p
	if rest := c.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	n, err := c.f.ReadAt(want, off)
	if n == len(want) {
		if len(want) < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if errors.Is(err, os.ErrClosed) {
		return n, fmt.Errorf("sqlite: chunk stream: %w", err)
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("the file ends at %d", off+int64(n))
	}
	return n, damaged(c.id, "reading %d bytes at offset %d: %v", len(want), off, err)
}

// Close implements [store.ChunkStream]: it closes the file.
func (c *chunkStream) Close() error { return c.f.Close() }
