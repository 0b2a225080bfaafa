package crypt

import (
	"errors"
	"io"
	"runtime"

	"github.com/keyward/keyward/secret"
)

var (
	errWriterClosed    = errors.New("crypt: write to a closed stream writer")
	errWriterAbandoned = errors.New("crypt: stream writer dropped without Close")
)

const (
	// syncChunks is how many chunks the writer seals and writes to dst
	// itself, one Write per chunk, before it hands the writing to a
	// write-behind goroutine. A stream of up to syncChunks+1 chunks
	// (1 MiB and a chunk) never starts the goroutine nor allocates a batch.
	syncChunks = 16

	// batchChunks sealed chunks make one batch, written to dst in one Write.
	batchChunks = 16
	batchSize   = batchChunks * (ChunkSize + ChunkOverhead)

	// wbBufs is the most batches in memory at once: the one being filled,
	// the one being written, and those waiting in between.
	wbBufs = 4
)

// writer is the io.WriteCloser returned by NewWriter.
type writer struct {
	dst    io.Writer
	s      *StreamSealer
	buf    []byte // buffered plaintext of the next chunk, up to ChunkSize
	ct     []byte // ciphertext scratch of the synchronous chunks
	err    error  // sticky: the first failure, or errWriterClosed
	closed bool

	// Write-behind, from chunk syncChunks on; nil before.
	wb      *writeBehind
	batch   []byte // sealed chunks not yet handed to wb, or nil
	batches int    // batch buffers allocated, at most wbBufs
	cleanup runtime.Cleanup
}

// writeBehind is what the write-behind goroutine shares with the writer.
// It holds no reference to the writer, so an abandoned writer can be
// collected (see startWriteBehind).
type writeBehind struct {
	full chan []byte   // sealed batches to write, in order
	free chan []byte   // written batches, for reuse
	quit chan struct{} // closed when the writer was dropped without Close
	done chan struct{} // closed when the goroutine returns
	err  error         // why it returned early; read only after done
}

// NewWriter starts an encrypted stream (see the package documentation) for
// dek, of the given key version, bound to c. It writes the header to dst at
// once; then Write encrypts whole chunks as soon as it knows they are not
// the last one.
//
// Close must be called, also after an error: it writes the final chunk,
// waits until everything reached dst and ends the writer's goroutine; a
// stream without it fails to open. Close does not close dst.
//
// The first chunks are written to dst by Write itself. From the 17th chunk
// (past 1 MiB) on, sealed chunks are gathered into batches of 16 and a
// goroutine writes them to dst, one Write per batch, while the caller's
// goroutine seals the next ones; so dst.Write runs on another goroutine
// then, and at most four batches (about 4 MiB) are in memory. An error from
// dst may therefore be reported by a later Write or by Close rather than by
// the Write whose data failed; once dst failed, nothing more is written to
// it and every later call returns that error. Only a nil error from Close
// means the whole stream reached dst.
//
// The writer is not safe for concurrent use. It wipes its plaintext
// buffers; the batches hold only ciphertext.
func NewWriter(dst io.Writer, dek *secret.Key, version uint32, c Context) (io.WriteCloser, error) {
	s, err := NewStreamSealer(dek, version, c)
	if err != nil {
		return nil, err
	}
	return newWriter(dst, s)
}

// newWriter is NewWriter with a given sealer, for tests with a fixed salt.
func newWriter(dst io.Writer, s *StreamSealer) (*writer, error) {
	if err := writeAll(dst, s.header[:]); err != nil {
		s.Close()
		return nil, err
	}
	return &writer{dst: dst, s: s}, nil
}

// writeAll writes p to dst, turning a short write without an error into
// io.ErrShortWrite.
func writeAll(dst io.Writer, p []byte) error {
	n, err := dst.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// Write encrypts p. A chunk is sealed once more data follows it, so up to
// ChunkSize bytes stay buffered until the next Write or Close.
func (w *writer) Write(p []byte) (int, error) {
	if w.err == nil && w.wb != nil {
		// Pick up a failure of the goroutine.
		select {
		case <-w.wb.done:
			w.err = w.wb.err
		default:
		}
	}
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

// seal encrypts one chunk and writes it to dst, or adds it to the batch
// for the write-behind goroutine. Any error sticks.
func (w *writer) seal(chunk []byte, last bool) error {
	err := w.sealChunk(chunk, last)
	if err != nil {
		w.err = err
	}
	return err
}

func (w *writer) sealChunk(chunk []byte, last bool) error {
	if w.wb == nil && !last && w.s.next >= syncChunks {
		w.startWriteBehind()
	}
	if w.wb == nil {
		ct, err := w.s.SealChunk(w.ct[:0], chunk, last)
		if err != nil {
			return err
		}
		w.ct = ct
		return writeAll(w.dst, ct)
	}
	if w.batch == nil {
		if err := w.nextBatch(); err != nil {
			return err
		}
	}
	// A batch has room for batchChunks whole chunks, so this never
	// reallocates.
	ct, err := w.s.SealChunk(w.batch, chunk, last)
	if err != nil {
		return err
	}
	w.batch = ct
	if cap(w.batch)-len(w.batch) < ChunkSize+ChunkOverhead {
		return w.sendBatch()
	}
	return nil
}

// startWriteBehind starts the goroutine that writes the batches to dst.
func (w *writer) startWriteBehind() {
	wb := &writeBehind{
		full: make(chan []byte, wbBufs),
		free: make(chan []byte, wbBufs),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	w.wb = wb
	go wb.run(w.dst)
	// A writer dropped without Close would otherwise leave the goroutine
	// (and its batches) waiting forever: once the writer is unreachable,
	// tell the goroutine to stop. It writes nothing more then.
	w.cleanup = runtime.AddCleanup(w, func(quit chan struct{}) { close(quit) }, wb.quit)
}

// run writes batches to dst until full is closed, dst fails, or the
// writer is abandoned. After a failure it writes nothing more.
func (wb *writeBehind) run(dst io.Writer) {
	defer close(wb.done)
	for {
		select {
		case b, ok := <-wb.full:
			if !ok {
				return
			}
			if err := writeAll(dst, b); err != nil {
				wb.err = err
				return
			}
			wb.free <- b[:0] // never blocks: free has room for every batch
		case <-wb.quit:
			wb.err = errWriterAbandoned
			return
		}
	}
}

// nextBatch makes w.batch an empty batch buffer: a written one, a new one
// while fewer than wbBufs exist, or else the next one the goroutine frees.
func (w *writer) nextBatch() error {
	select {
	case b := <-w.wb.free:
		w.batch = b
		return nil
	default:
	}
	if w.batches < wbBufs {
		w.batches++
		w.batch = make([]byte, 0, batchSize)
		return nil
	}
	select {
	case b := <-w.wb.free:
		w.batch = b
		return nil
	case <-w.wb.done:
		return w.wb.err
	}
}

// sendBatch hands w.batch to the goroutine.
func (w *writer) sendBatch() error {
	b := w.batch
	w.batch = nil
	select {
	case w.wb.full <- b:
		return nil
	case <-w.wb.done:
		return w.wb.err
	}
}

// stopWriteBehind ends the goroutine after it wrote what was handed to it
// (nothing more when discard is set) and returns its error.
func (w *writer) stopWriteBehind(discard bool) error {
	if discard {
	drain:
		for {
			select {
			case <-w.wb.full:
			default:
				break drain
			}
		}
	}
	close(w.wb.full)
	<-w.wb.done
	w.cleanup.Stop()
	w.batch = nil
	return w.wb.err
}

// Close writes the final chunk, waits until everything is written, wipes
// the buffered plaintext and forgets the stream key. It returns the first
// error the writer met, if any. Calling it again returns nil.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if err == nil {
		err = w.seal(w.buf, true)
	}
	if err == nil && len(w.batch) > 0 {
		err = w.sendBatch()
	}
	if w.wb != nil {
		if werr := w.stopWriteBehind(err != nil); err == nil {
			err = werr
		}
	}
	clear(w.buf[:cap(w.buf)])
	w.buf = w.buf[:0]
	w.s.Close()
	w.err = errWriterClosed
	// The cleanup must not stop the goroutine while Close waits for it.
	runtime.KeepAlive(w)
	return err
}
