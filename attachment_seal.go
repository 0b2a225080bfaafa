package keyward

import (
	"context"
	"errors"
	"io"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// The write path of attachments. sealChunks reads the source in blocks of
// batchChunks chunks straight into one plaintext buffer, seals each chunk
// from there into a batch buffer (the sealed chunks back to back, so the
// batch is the attachment's stream from chunk first on), and hands whole
// batches to a goroutine that stores them: one channel hand-off and, on a
// store that implements store.ChunkBatchWriter, one write per batch, while
// the next batch is read and sealed.

const (
	// batchChunks chunks make one batch: about 1 MiB sealed.
	batchChunks = 16
	// sealedChunk is the stored size of every chunk but the last.
	sealedChunk = crypt.ChunkSize + crypt.ChunkOverhead
	// pipeBatches is how many batch buffers exist: the one being sealed
	// and the one being stored. Reading waits for a free buffer, so after
	// the store fails the source is read at most one batch (and one chunk)
	// further.
	pipeBatches = 2
	// plainBuf is the plaintext buffer: one batch and the chunk after it,
	// read ahead to learn whether the batch holds the last chunk.
	plainBuf = (batchChunks + 1) * crypt.ChunkSize
)

// sealChunks reads r to its end, seals it chunk by chunk with s and stores
// the chunks with w, in batches that a goroutine of its own writes: the
// store writes batch N while batch N+1 is read and sealed. Memory use is
// constant: one plaintext buffer and pipeBatches batch buffers, all wiped
// before sealChunks returns; the storing goroutine has ended by then, even
// if r panics. It returns a with Size and Chunks set. If r, the store or ctx
// fails, it returns the first error (ctx's if it ended) and the caller
// aborts w.
func sealChunks(ctx context.Context, r io.Reader, s *crypt.StreamSealer, w store.AttachmentWriter, a store.Attachment) (store.Attachment, error) {
	pt := make([]byte, plainBuf)
	defer clear(pt) // plaintext
	p := newBatchPipe(ctx, w)
	defer func() {
		if !p.closed { // r panicked: stop the store side all the same
			p.cancel()
			p.close()
		}
	}()
	size, chunks, err := sealBatches(ctx, r, s, p, pt)
	if err != nil {
		p.cancel() // the store need not finish what is queued
	}
	if serr := p.close(); err == nil {
		err = serr
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr // the cause, whichever side noticed first
		}
		return a, err
	}
	a.Size, a.Chunks = size, chunks
	return a, nil
}

// sealBatches reads r into pt, seals its chunks into batches and sends them
// down p. pt[:have] holds plaintext read but not sealed yet: after a full
// read, the chunk that follows the batch, carried to the front for the
// next batch. It stops at the first error, its own or the store's.
func sealBatches(ctx context.Context, r io.Reader, s *crypt.StreamSealer, p *batchPipe, pt []byte) (size, chunks int64, err error) {
	have, eof := 0, false
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		// Take a buffer before reading, so reading never runs more than
		// the pipe's batches ahead of the store.
		batch, err := p.buffer()
		if err != nil {
			return 0, 0, err
		}
		if !eof {
			n, err := io.ReadFull(r, pt[have:])
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, 0, err
			}
			have += n
			eof = have < len(pt)
		}
		// Unless r ended, pt is full: its first batchChunks chunks are
		// whole and another follows them, so none of them is the last.
		first, off, last := chunks, 0, false
		for k := 0; k < batchChunks && !last; k++ {
			end := min(off+crypt.ChunkSize, have)
			last = eof && end == have
			if batch, err = s.SealChunk(batch, pt[off:end], last); err != nil {
				return 0, 0, err
			}
			size += int64(end - off)
			off = end
			chunks++
		}
		if err := p.send(first, batch); err != nil {
			return 0, 0, err
		}
		if last {
			return size, chunks, nil
		}
		have = copy(pt, pt[off:have])
	}
}

// batchPipe runs the store's writes in a goroutine of its own, in order.
type batchPipe struct {
	ctx    context.Context // the store's: cancelled by cancel
	cancel context.CancelFunc
	w      store.AttachmentWriter
	bw     store.ChunkBatchWriter // w's batch method, or nil
	work   chan sealedBatch
	free   chan []byte   // buffers the store is done with
	failed chan struct{} // closed when the store failed (err is set)
	done   chan struct{} // closed when the goroutine has ended
	err    error         // the store's error, read after failed or done
	bufs   [][]byte      // every buffer made, wiped by close
	closed bool          // close was called
}

// sealedBatch is chunks first, first+1, … back to back.
type sealedBatch struct {
	first int64
	data  []byte
}

func newBatchPipe(ctx context.Context, w store.AttachmentWriter) *batchPipe {
	ctx, cancel := context.WithCancel(ctx)
	p := &batchPipe{
		ctx: ctx, cancel: cancel, w: w,
		work:   make(chan sealedBatch, pipeBatches),
		free:   make(chan []byte, pipeBatches),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	p.bw, _ = w.(store.ChunkBatchWriter)
	go p.run()
	return p
}

// run stores the batches it receives until work is closed. After a failure
// it only returns the buffers.
func (p *batchPipe) run() {
	defer close(p.done)
	for b := range p.work {
		if p.err == nil {
			err := p.ctx.Err()
			if err == nil {
				err = p.store(b)
			}
			if err != nil {
				p.err = err
				close(p.failed)
			}
		}
		p.free <- b.data[:0]
	}
}

// store writes one batch: in one call if the store takes batches, else
// one WriteChunk per chunk.
func (p *batchPipe) store(b sealedBatch) error {
	if p.bw != nil {
		return p.bw.WriteChunks(p.ctx, b.first, b.data, sealedChunk)
	}
	for i, off := b.first, 0; off < len(b.data); i++ {
		end := min(off+sealedChunk, len(b.data))
		if err := p.w.WriteChunk(p.ctx, i, b.data[off:end]); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// buffer returns an empty batch buffer (capacity batchChunks sealed
// chunks) that nothing else uses: a new one while fewer than pipeBatches
// exist, else one the store is done with. Once the store failed it returns
// the store's error instead.
func (p *batchPipe) buffer() ([]byte, error) {
	var b []byte
	select {
	case b = <-p.free:
	default:
		if len(p.bufs) < pipeBatches {
			b = make([]byte, 0, batchChunks*sealedChunk)
			p.bufs = append(p.bufs, b)
			break
		}
		select {
		case b = <-p.free:
		case <-p.failed:
			return nil, p.err
		}
	}
	// The store frees a buffer after failing too: check.
	select {
	case <-p.failed:
		return nil, p.err
	default:
		return b, nil
	}
}

// send queues a sealed batch for the store.
func (p *batchPipe) send(first int64, data []byte) error {
	select {
	case <-p.failed:
		return p.err
	default:
	}
	// Never blocks: there are at most pipeBatches buffers.
	p.work <- sealedBatch{first, data}
	return nil
}

// close waits until the store has written (or, after cancel, dropped) what
// was sent, wipes the buffers and returns the store's error.
func (p *batchPipe) close() error {
	p.closed = true
	close(p.work)
	<-p.done
	p.cancel()
	for _, b := range p.bufs {
		clear(b[:cap(b)])
	}
	return p.err
}
