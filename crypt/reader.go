package crypt

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/keyward/keyward/secret"
)

var errReaderClosed = errors.New("crypt: read from a closed stream reader")

// Reader decrypts a stream with random access. It implements io.Reader,
// io.Seeker and io.ReaderAt over the plaintext. Reading a range decrypts
// only the chunks it covers. A chunk the read covers whole, from its first
// byte, is decrypted straight into the caller's buffer; a chunk read in
// part is decrypted into the Reader's own buffer, which keeps the most
// recent such chunk.
//
// Every byte it returns comes from a chunk that authenticated at its
// position. A chunk that fails gives ErrAuth and none of its bytes (where
// it was being decrypted into the caller's buffer, that part of the buffer
// is zeroed). Calls are serialised, so ReadAt may be called from several
// goroutines.
type Reader struct {
	mu     sync.Mutex
	src    io.ReaderAt
	o      *StreamOpener
	size   int64 // plaintext size, authenticated by NewReader
	enc    int64 // encrypted size, header included
	chunks int64
	off    int64  // position of Read and Seek
	ct     []byte // ciphertext scratch, one chunk (less for a short stream)
	pt     []byte // plaintext of chunk cur, capacity one chunk
	cur    int64  // index of the chunk in pt, or -1
	closed bool
}

var (
	_ io.ReadSeekCloser = (*Reader)(nil)
	_ io.ReaderAt       = (*Reader)(nil)
)

// NewReader prepares to decrypt the stream stored in src, size bytes long
// with the header. Use StreamKeyVersion on the first StreamHeaderSize bytes
// first if the key version is needed to pick dek.
//
// The chunk boundaries and which chunk is last follow from size. NewReader
// opens that last chunk at once, so a stream truncated at a chunk boundary,
// with bytes appended, with a chunk dropped, or opened with a wrong dek or
// Context gives ErrAuth here; a size no stream can have gives ErrFormat.
// Chunks swapped or copied from another stream are detected when read.
func NewReader(src io.ReaderAt, size int64, dek *secret.Key, c Context) (*Reader, error) {
	if size < StreamHeaderSize {
		return nil, formatError("stream of %d bytes, shorter than its header", size)
	}
	header := make([]byte, StreamHeaderSize)
	if err := readFullAt(src, header, 0); err != nil {
		return nil, err
	}
	if _, err := StreamKeyVersion(header); err != nil {
		return nil, err
	}
	plain, chunks, err := streamLayout(size)
	if err != nil {
		return nil, err
	}
	o, err := NewStreamOpener(dek, header, c)
	if err != nil {
		return nil, err
	}
	r := &Reader{
		src:    src,
		o:      o,
		size:   plain,
		enc:    size,
		chunks: chunks,
		// A stream shorter than one chunk needs only its own size.
		ct:  make([]byte, min(size-StreamHeaderSize, ChunkSize+ChunkOverhead)),
		pt:  make([]byte, 0, min(plain, ChunkSize)),
		cur: -1,
	}
	if err := r.load(chunks - 1); err != nil {
		o.Close()
		return nil, err
	}
	return r, nil
}

// Size returns the plaintext size of the stream.
func (r *Reader) Size() int64 { return r.size }

// load decrypts chunk i into r.pt, unless it is already there.
func (r *Reader) load(i int64) error {
	if r.cur == i {
		return nil
	}
	r.cur = -1
	clear(r.pt[:cap(r.pt)])
	ct, err := r.readChunk(i)
	if err != nil {
		return err
	}
	pt, err := r.o.OpenChunk(r.pt[:0], uint64(i), ct, i == r.chunks-1)
	if err != nil {
		return err
	}
	r.pt, r.cur = pt, i
	return nil
}

// openInto decrypts chunk i, whose plaintext is exactly len(dst) bytes,
// into dst. The cached chunk stays as it is. If the chunk does not
// authenticate, dst is cleared: no unauthenticated plaintext is left there.
func (r *Reader) openInto(dst []byte, i int64) error {
	ct, err := r.readChunk(i)
	if err != nil {
		return err
	}
	if _, err := r.o.OpenChunk(dst[:0], uint64(i), ct, i == r.chunks-1); err != nil {
		clear(dst)
		return err
	}
	return nil
}

// readChunk reads the ciphertext of chunk i into r.ct and returns it.
func (r *Reader) readChunk(i int64) ([]byte, error) {
	const full = ChunkSize + ChunkOverhead
	start := StreamHeaderSize + i*full
	end := min(start+full, r.enc)
	ct := r.ct[:end-start]
	if err := readFullAt(r.src, ct, start); err != nil {
		return nil, err
	}
	return ct, nil
}

// ReadAt reads len(p) plaintext bytes from offset off. It returns io.EOF
// when fewer bytes are left, and ErrAuth, with the bytes of the chunks read
// before the failing one, when a chunk does not authenticate.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAt(p, off)
}

func (r *Reader) readAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, errReaderClosed
	}
	if off < 0 {
		return 0, errors.New("crypt: ReadAt at a negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < r.size {
		i := off / ChunkSize
		if k := min(ChunkSize, r.size-off); off == i*ChunkSize && int64(len(p)-n) >= k && r.cur != i {
			// The whole chunk is wanted and not cached: decrypt it
			// straight into p.
			if err := r.openInto(p[n:n+int(k)], i); err != nil {
				return n, err
			}
			n += int(k)
			off += k
			continue
		}
		if err := r.load(i); err != nil {
			return n, err
		}
		k := copy(p[n:], r.pt[off-i*ChunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads plaintext from the current position.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// Seek sets the position of the next Read. Seeking past the end is allowed;
// Read then returns io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("crypt: Seek with an invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("crypt: Seek to a negative position")
	}
	r.off = abs
	return abs, nil
}

// Close wipes the cached plaintext chunk and forgets the stream key. It does
// not close src. Later reads fail.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		clear(r.pt[:cap(r.pt)])
		r.cur = -1
		r.o.Close()
	}
	return nil
}

// readFullAt fills p from src at off. A source shorter than the stated
// stream size is an I/O problem (the caller's size is wrong, or the storage
// lost data), reported as io.ErrUnexpectedEOF.
func readFullAt(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("crypt: reading the stream at offset %d: %w", off, err)
}
