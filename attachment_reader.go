package keyward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// AttachmentReader reads a decrypted attachment. It is an io.ReadSeeker and
// an io.ReaderAt; reading a range decrypts only the chunks it covers. A
// chunk that fails to authenticate returns an *IntegrityError and none of
// its bytes.
//
// On a store that can open an attachment's chunks as one stream (the
// SQLite store: store.ChunkStreamOpener), the reader holds the attachment's
// file open and reads each chunk with one read straight into its buffers.
// If the attachment is then deleted or replaced, the reader goes on
// reading the attachment as it was when opened: a snapshot, every byte of
// it authenticated as usual, until Close. (On Unix the removed file stays
// readable while open and its space is freed at Close; on Windows, where
// an open file cannot be removed, it stays until a later sweep removes
// it.) On other stores every chunk is fetched from the store, and a read
// after the attachment was deleted or replaced fails with ErrNotFound.
type AttachmentReader struct {
	info   Attachment
	r      *crypt.Reader
	src    attachmentSource
	err    func(error) error
	closed atomic.Bool
}

// OpenAttachment opens the attachment name of the entry at path.
// ErrNotFound if either does not exist. ctx applies to the reader's whole
// life: once it is done, reads that need the store fail with its error.
func (d *Database) OpenAttachment(ctx context.Context, path, name string) (*AttachmentReader, error) {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return nil, d.notFound(path, err)
	}
	a, err := d.kw.st.Attachment(ctx, se.ID, name)
	if err != nil {
		return nil, fmt.Errorf("keyward: attachment %q of entry %q: %w", name, path, err)
	}
	wrap := func(err error) error {
		if err == nil || err == io.EOF {
			return err
		}
		if !isIntegrityFailure(err) {
			return fmt.Errorf("keyward: attachment %q of entry %q: %w", name, path, err)
		}
		return &IntegrityError{Database: d.db.Name, Path: path, EntryID: se.ID, Attachment: name, KeyVersion: a.KeyVersion, Err: err}
	}
	version, err := crypt.StreamKeyVersion(a.Header)
	if err != nil || version != a.KeyVersion || a.Chunks < 1 {
		return nil, wrap(fmt.Errorf("attachment header does not match its row: %w", crypt.ErrFormat))
	}
	dek, err := d.kw.kr.Version(ctx, d.db.ID, a.KeyVersion)
	if err != nil {
		return nil, wrap(err)
	}
	src, size, err := openSource(ctx, d.kw.st, a)
	if err != nil {
		return nil, wrap(err)
	}
	r, err := crypt.NewReader(src, size, dek.Key(), d.attachmentContext(se.ID, a.ID, name))
	if err != nil {
		src.release()
		return nil, wrap(err)
	}
	return &AttachmentReader{info: toAttachment(a), r: r, src: src, err: wrap}, nil
}

// isIntegrityFailure tells the errors of reading an attachment that mean
// its stored data is damaged or was never this attachment's from those
// that do not: the attachment deleted meanwhile (ErrNotFound), the
// caller's context ended.
func isIntegrityFailure(err error) bool {
	return !errors.Is(err, store.ErrNotFound) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// Info describes the attachment.
func (ar *AttachmentReader) Info() Attachment { return ar.info }

// Size returns the plaintext size, as proven by the last chunk.
func (ar *AttachmentReader) Size() int64 { return ar.r.Size() }

// Read implements io.Reader.
func (ar *AttachmentReader) Read(p []byte) (int, error) {
	if ar.closed.Load() {
		return 0, errAttachmentClosed
	}
	n, err := ar.r.Read(p)
	return n, ar.readErr(err)
}

// ReadAt implements io.ReaderAt.
func (ar *AttachmentReader) ReadAt(p []byte, off int64) (int, error) {
	if ar.closed.Load() {
		return 0, errAttachmentClosed
	}
	n, err := ar.r.ReadAt(p, off)
	return n, ar.readErr(err)
}

// readErr maps a read's error; one that raced with Close is the closing's.
func (ar *AttachmentReader) readErr(err error) error {
	if err != nil && err != io.EOF && ar.closed.Load() {
		return errAttachmentClosed
	}
	return ar.err(err)
}

// Seek implements io.Seeker.
func (ar *AttachmentReader) Seek(off int64, whence int) (int64, error) {
	if ar.closed.Load() {
		return 0, errAttachmentClosed
	}
	return ar.r.Seek(off, whence)
}

// errAttachmentClosed is what a reader returns after Close.
var errAttachmentClosed = fmt.Errorf("keyward: read from a closed attachment reader: %w", fs.ErrClosed)

// Close wipes the reader's cached plaintext and stream key and releases
// its buffers and open file, if any. Later reads fail with an error
// matching fs.ErrClosed; open the attachment again to read it again.
// Calling Close more than once is harmless.
func (ar *AttachmentReader) Close() error {
	if ar.closed.Swap(true) {
		return nil
	}
	err := ar.r.Close() // wipes the plaintext chunk it keeps
	ar.src.release()
	return err
}

// chunkSource presents the stored rows of an attachment as the byte stream
// header || chunk0 || chunk1 || … that crypt.Reader expects. Every stored
// chunk but the last is exactly ChunkSize+ChunkOverhead bytes; a row that is
// not is read as it is and fails authentication.
//
// It keeps a window of consecutive chunks. When the store can read several
// chunks per query (chunkRangeReader) and the access is sequential, a miss
// fills the window with up to readAhead chunks at once; a random access
// reads one. The window's buffers are reused, so reading allocates nothing
// per chunk here. Chunks are authenticated by crypt.Reader as they are used,
// whichever query brought them.
type chunkSource struct {
	ctx context.Context
	st  store.Store
	rr  chunkRangeReader // nil: one AttachmentChunk call per chunk
	a   store.Attachment

	mu    sync.Mutex
	first int64    // index of win[0]
	win   [][]byte // chunks first, first+1, …: a prefix of bufs
	bufs  [][]byte // up to readAhead buffers, kept across fills
}

// chunkRangeReader is implemented by stores that read several consecutive
// chunks per query into the caller's buffers (store/sqlite does, but there
// openSource uses its chunk stream instead). See
// sqlite.Store.ReadAttachmentChunks for the contract.
type chunkRangeReader interface {
	ReadAttachmentChunks(ctx context.Context, attachmentID string, first int64, dst [][]byte) (int, error)
}

// readAhead bounds the window: 8 sealed chunks, about 512 KiB per reader.
const readAhead = 8

func newChunkSource(ctx context.Context, st store.Store, a store.Attachment) *chunkSource {
	c := &chunkSource{ctx: ctx, st: st, a: a}
	c.rr, _ = st.(chunkRangeReader)
	return c
}

func (c *chunkSource) size() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, err := c.chunk(c.a.Chunks - 1)
	if err != nil {
		return 0, err
	}
	return int64(len(c.a.Header)) + (c.a.Chunks-1)*sealedChunk + int64(len(last)), nil
}

// chunk returns chunk i (0 <= i < c.a.Chunks), valid until the next call.
func (c *chunkSource) chunk(i int64) ([]byte, error) {
	if i >= c.first && i-c.first < int64(len(c.win)) {
		return c.win[i-c.first], nil
	}
	n := int64(1)
	if c.rr != nil && (i == 0 || i == c.first+int64(len(c.win))) {
		n = min(readAhead, c.a.Chunks-i) // sequential: read ahead
	}
	c.win = nil
	if c.rr == nil {
		b, err := c.st.AttachmentChunk(c.ctx, c.a.ID, i)
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
		c.first, c.win = i, [][]byte{b}
		return b, nil
	}
	for int64(len(c.bufs)) < n {
		c.bufs = append(c.bufs, nil) // grown by the store to the chunks' size
	}
	got, err := c.rr.ReadAttachmentChunks(c.ctx, c.a.ID, i, c.bufs[:n])
	if err == nil && (got < 1 || int64(got) > n) {
		err = fmt.Errorf("store returned %d chunks for %d", got, n)
	}
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, err)
	}
	c.first, c.win = i, c.bufs[:got]
	return c.win[0], nil
}

// release drops the window and its buffers.
func (c *chunkSource) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.win, c.bufs = nil, nil
}

// ReadAt implements io.ReaderAt over the virtual stream.
func (c *chunkSource) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos < int64(len(c.a.Header)) {
			n += copy(p[n:], c.a.Header[pos:])
			continue
		}
		rel := pos - int64(len(c.a.Header))
		idx := rel / sealedChunk
		if idx >= c.a.Chunks {
			return n, io.EOF
		}
		b, err := c.chunk(idx)
		if err != nil {
			return n, err
		}
		in := rel % sealedChunk
		if in >= int64(len(b)) {
			return n, io.EOF
		}
		n += copy(p[n:], b[in:])
	}
	return n, nil
}
