package keyward

import (
	"context"
	"fmt"
	"io"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// AttachmentReader reads a decrypted attachment. It is an io.ReadSeeker and
// an io.ReaderAt; reading a range decrypts only the chunks it covers. A
// chunk that fails to authenticate returns an *IntegrityError and none of
// its bytes.
type AttachmentReader struct {
	info Attachment
	r    *crypt.Reader
	err  func(error) error
}

// OpenAttachment opens the attachment name of the entry at path.
// ErrNotFound if either does not exist.
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
	src := &chunkSource{ctx: ctx, st: d.kw.st, a: a, cur: -1}
	size, err := src.size()
	if err != nil {
		return nil, wrap(err)
	}
	r, err := crypt.NewReader(src, size, dek.Key(), d.attachmentContext(se.ID, a.ID, name))
	if err != nil {
		return nil, wrap(err)
	}
	return &AttachmentReader{info: toAttachment(a), r: r, err: wrap}, nil
}

// Info describes the attachment.
func (ar *AttachmentReader) Info() Attachment { return ar.info }

// Size returns the plaintext size, as proven by the last chunk.
func (ar *AttachmentReader) Size() int64 { return ar.r.Size() }

// Read implements io.Reader.
func (ar *AttachmentReader) Read(p []byte) (int, error) {
	n, err := ar.r.Read(p)
	return n, ar.err(err)
}

// ReadAt implements io.ReaderAt.
func (ar *AttachmentReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := ar.r.ReadAt(p, off)
	return n, ar.err(err)
}

// Seek implements io.Seeker.
func (ar *AttachmentReader) Seek(off int64, whence int) (int64, error) {
	return ar.r.Seek(off, whence)
}

// Close releases the reader.
func (ar *AttachmentReader) Close() error { return nil }

// chunkSource presents the stored rows of an attachment as the byte stream
// header || chunk0 || chunk1 || … that crypt.Reader expects. Every stored
// chunk but the last is exactly ChunkSize+ChunkOverhead bytes; a row that is
// not is read as it is and fails authentication.
type chunkSource struct {
	ctx  context.Context
	st   store.Store
	a    store.Attachment
	cur  int64
	data []byte
}

const sealedChunk = crypt.ChunkSize + crypt.ChunkOverhead

func (c *chunkSource) size() (int64, error) {
	last, err := c.chunk(c.a.Chunks - 1)
	if err != nil {
		return 0, err
	}
	return int64(len(c.a.Header)) + (c.a.Chunks-1)*sealedChunk + int64(len(last)), nil
}

func (c *chunkSource) chunk(i int64) ([]byte, error) {
	if i != c.cur {
		b, err := c.st.AttachmentChunk(c.ctx, c.a.ID, i)
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
		c.cur, c.data = i, b
	}
	return c.data, nil
}

// ReadAt implements io.ReaderAt over the virtual stream.
func (c *chunkSource) ReadAt(p []byte, off int64) (int, error) {
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
