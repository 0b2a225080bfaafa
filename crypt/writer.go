package crypt

import (
	"errors"
	"io"

	"github.com/keyward/keyward/secret"
)

var errWriterClosed = errors.New("crypt: write to a closed stream writer")

// writer is the io.WriteCloser returned by NewWriter.
type writer struct {
	dst    io.Writer
	s      *StreamSealer
	buf    []byte // buffered plaintext of the next chunk, up to ChunkSize
	ct     []byte // ciphertext scratch, reused from chunk to chunk
	err    error  // sticky: the first failure, or errWriterClosed
	closed bool
}

// NewWriter starts an encrypted stream (see the package documentation) for
// dek, of the given key version, bound to c. It writes the header to dst at
// once; then Write encrypts and writes whole chunks as soon as it knows they
// are not the last one.
//
// Close must be called: it writes the final chunk, and a stream without it
// fails to open. Close does not close dst. The writer holds at most two
// chunks in memory whatever the stream's size (less for a short stream),
// and wipes its plaintext buffers. After any error from dst, every later
// call returns that error.
func NewWriter(dst io.Writer, dek *secret.Key, version uint32, c Context) (io.WriteCloser, error) {
	s, err := NewStreamSealer(dek, version, c)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(s.header[:]); err != nil {
		s.Close()
		return nil, err
	}
	return &writer{dst: dst, s: s}, nil
}

// Write encrypts p. A chunk is written to dst once more data follows it, so
// up to ChunkSize bytes stay buffered until the next Write or Close.
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			// More data follows, so the buffered chunk is not the last.
			if err := w.seal(w.buf, false); err != nil {
				return n, err
			}
			w.buf = w.buf[:0]
		}
		if len(w.buf) == 0 && len(p) > ChunkSize {
			// A whole chunk with more after it: seal it in place.
			if err := w.seal(p[:ChunkSize], false); err != nil {
				return n, err
			}
			n += ChunkSize
			p = p[ChunkSize:]
			continue
		}
		w.grow(min(len(w.buf)+len(p), ChunkSize))
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		n += k
		p = p[k:]
	}
	return n, nil
}

// grow makes room for n buffered bytes (n <= ChunkSize), so a short
// stream never costs a whole chunk of memory. The old buffer is wiped.
func (w *writer) grow(n int) {
	if n <= cap(w.buf) {
		return
	}
	nb := make([]byte, len(w.buf), min(ChunkSize, max(n, 2*cap(w.buf), 4096)))
	copy(nb, w.buf)
	clear(w.buf[:cap(w.buf)])
	w.buf = nb
}

// seal encrypts one chunk and writes it to dst.
func (w *writer) seal(chunk []byte, last bool) error {
	ct, err := w.s.SealChunk(w.ct[:0], chunk, last)
	w.ct = ct
	if err == nil {
		_, err = w.dst.Write(ct)
	}
	if err != nil {
		w.err = err
	}
	return err
}

// Close writes the final chunk, wipes the buffered plaintext and forgets the
// stream key. It returns the first error the writer met, if any. Calling it
// again returns nil.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if err == nil {
		err = w.seal(w.buf, true)
	}
	clear(w.buf[:cap(w.buf)])
	w.buf = w.buf[:0]
	w.s.Close()
	w.err = errWriterClosed
	return err
}
