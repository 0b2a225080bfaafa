package keyward

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/keyward/keyward/store"
)

// attachmentSource is a stored attachment as the byte stream crypt.Reader
// decrypts: header || chunk0 || chunk1 || …
type attachmentSource interface {
	io.ReaderAt
	// release frees what the source holds (buffers, an open file). Its
	// callers read no more after it (AttachmentReader.Close, the end of
	// a verification or a re-encryption).
	release()
}

// openSource returns a's stream and its size. On a store that opens chunk
// streams it is a streamSource; otherwise a chunkSource, which fetches
// chunks from the store.
func openSource(ctx context.Context, st store.Store, a store.Attachment) (attachmentSource, int64, error) {
	if op, ok := st.(store.ChunkStreamOpener); ok {
		s, err := newStreamSource(ctx, op, a)
		if err != nil {
			return nil, 0, err
		}
		return s, int64(len(s.header)) + s.cs.Size(), nil
	}
	src := newChunkSource(ctx, st, a)
	size, err := src.size()
	if err != nil {
		return nil, 0, err
	}
	return src, size, nil
}

// streamSource presents the header from a's row followed by the store's
// chunk stream. A read of a chunk is one ReadAt of the stream into the
// caller's buffer: no query, no copy. It holds the stream open until
// release; a read after that fails.
type streamSource struct {
	ctx    context.Context
	id     string
	header []byte

	mu sync.Mutex        // serialises reads with release
	cs store.ChunkStream // nil after release
}

func newStreamSource(ctx context.Context, op store.ChunkStreamOpener, a store.Attachment) (*streamSource, error) {
	cs, err := op.OpenChunkStream(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return &streamSource{ctx: ctx, id: a.ID, header: a.Header, cs: cs}, nil
}

// ReadAt implements io.ReaderAt over header || stream. It fails with ctx's
// error once ctx is done.
func (s *streamSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("attachment %s: read at a negative offset", s.id)
	}
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	if off < int64(len(s.header)) {
		n = copy(p, s.header[off:])
		if n == len(p) {
			return n, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cs == nil {
		return n, fmt.Errorf("attachment %s: read after release: %w", s.id, fs.ErrClosed)
	}
	m, err := s.cs.ReadAt(p[n:], off+int64(n)-int64(len(s.header)))
	return n + m, err
}

// release closes the stream.
func (s *streamSource) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cs != nil {
		_ = s.cs.Close()
		s.cs = nil
	}
}
