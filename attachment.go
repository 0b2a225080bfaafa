package keyward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// Attachment describes a stored file.
type Attachment struct {
	Name       string
	Size       int64
	KeyVersion uint32
	Created    time.Time
}

// PutAttachment stores r as the attachment name of the entry at path,
// replacing one of the same name atomically. Memory use does not depend on
// the size of r. If r fails or ctx ends midway, nothing is stored.
func (d *Database) PutAttachment(ctx context.Context, path, name string, r io.Reader) (Attachment, error) {
	if err := checkAttachmentName(name); err != nil {
		return Attachment{}, err
	}
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return Attachment{}, d.notFound(path, err)
	}
	dek, err := d.kw.kr.Encrypter(ctx, d.db.ID)
	if err != nil {
		return Attachment{}, err
	}
	a := store.Attachment{ID: newID(), EntryID: se.ID, Name: name, KeyVersion: dek.Version}
	sealer, err := crypt.NewStreamSealer(dek.Key(), dek.Version, d.attachmentContext(se.ID, a.ID, name))
	if err != nil {
		return Attachment{}, err
	}
	defer sealer.Close()
	a.Header = sealer.Header()
	w, err := d.kw.st.BeginAttachment(ctx, a)
	if err != nil {
		return Attachment{}, d.notFound(path, err)
	}
	final, err := sealChunks(ctx, r, sealer, w, a)
	if err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return Attachment{}, fmt.Errorf("keyward: attachment %q of entry %q not stored: %w", name, path, err)
	}
	stored, err := w.Commit(ctx, final)
	if err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return Attachment{}, d.notFound(path, err)
	}
	return toAttachment(stored), nil
}

// sealChunks reads r a chunk ahead, so it knows which chunk is the last,
// seals each chunk in place and hands it to a goroutine that stores it: the
// store writes chunk N while chunk N+1 is read and sealed. At most pipeDepth chunk buffers exist; all of them are wiped before
// sealChunks returns, and the storing goroutine has ended by then.
func sealChunks(ctx context.Context, r io.Reader, s *crypt.StreamSealer, w store.AttachmentWriter, a store.Attachment) (store.Attachment, error) {
	// Read in large blocks: one read system call per 1 MiB rather than per
	// 64 KiB chunk. The buffer holds plaintext: wiped at the end.
	br := bufio.NewReaderSize(r, readBatch)
	defer wipeBufio(br)
	r = br
	p := newChunkPipe(ctx, w)
	defer func() {
		if !p.closed { // r panicked: stop the store side all the same
			p.cancel()
			p.close()
		}
	}()
	size, chunks, err := sealInto(ctx, r, s, p)
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

// sealInto reads and seals the chunks of r and sends them down p. It stops
// at the first error, its own or the store's.
func sealInto(ctx context.Context, r io.Reader, s *crypt.StreamSealer, p *chunkPipe) (size, chunks int64, err error) {
	cur, err := p.buffer()
	if err != nil {
		return 0, 0, err
	}
	n, err := io.ReadFull(r, cur[:crypt.ChunkSize])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, err
	}
	var idx int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		var next []byte
		m := 0
		if n == crypt.ChunkSize {
			if next, err = p.buffer(); err != nil {
				return 0, 0, err
			}
			m, err = io.ReadFull(r, next[:crypt.ChunkSize])
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, 0, err
			}
		}
		last := m == 0
		ct, err := s.SealChunk(cur[:0], cur[:n], last) // in place
		if err != nil {
			return 0, 0, err
		}
		if err := p.send(idx, ct); err != nil {
			return 0, 0, err
		}
		size += int64(n)
		idx++
		if last {
			return size, idx, nil
		}
		cur, n = next, m
	}
}

// readBatch is the size of PutAttachment's reads from its source.
const readBatch = 1 << 20

// wipeBufio clears a bufio.Reader's buffer: fill it from a reader of zeros.
func wipeBufio(br *bufio.Reader) {
	br.Reset(zeros{})
	_, _ = br.Peek(readBatch)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// pipeDepth is how many sealed chunks may be in flight between the sealer
// and the store, about 1 MiB: enough to keep sealing while the store's
// write of a chunk waits.
const pipeDepth = 16

// chunkPipe runs WriteChunk calls in a goroutine of its own, in order.
type chunkPipe struct {
	ctx    context.Context // the store's: cancelled by cancel
	cancel context.CancelFunc
	w      store.AttachmentWriter
	work   chan pipeChunk
	free   chan []byte   // buffers the store is done with
	failed chan struct{} // closed when the store failed (err is set)
	done   chan struct{} // closed when the goroutine has ended
	err    error         // the store's error, read after failed or done
	bufs   [][]byte      // every buffer made, wiped by close
	closed bool          // close was called
}

type pipeChunk struct {
	idx  int64
	data []byte
}

func newChunkPipe(ctx context.Context, w store.AttachmentWriter) *chunkPipe {
	ctx, cancel := context.WithCancel(ctx)
	p := &chunkPipe{
		ctx: ctx, cancel: cancel, w: w,
		work:   make(chan pipeChunk, pipeDepth),
		free:   make(chan []byte, pipeDepth),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	go p.run()
	return p
}

// run stores the chunks it receives until work is closed. After a failure
// it only returns the buffers.
func (p *chunkPipe) run() {
	defer close(p.done)
	for c := range p.work {
		if p.err == nil {
			err := p.ctx.Err()
			if err == nil {
				err = p.w.WriteChunk(p.ctx, c.idx, c.data)
			}
			if err != nil {
				p.err = err
				close(p.failed)
			}
		}
		p.free <- c.data[:0]
	}
}

// buffer returns a chunk buffer (capacity ChunkSize+ChunkOverhead) that
// nothing else uses: a new one while fewer than pipeDepth exist, else one
// the store is done with.
func (p *chunkPipe) buffer() ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	if len(p.bufs) < pipeDepth {
		b := make([]byte, 0, crypt.ChunkSize+crypt.ChunkOverhead)
		p.bufs = append(p.bufs, b)
		return b, nil
	}
	select {
	case b := <-p.free:
		return b, nil
	case <-p.failed:
		return nil, p.err
	}
}

// send queues a sealed chunk for the store.
func (p *chunkPipe) send(idx int64, data []byte) error {
	select {
	case <-p.failed:
		return p.err
	default:
	}
	// Never blocks: there are at most pipeDepth buffers.
	p.work <- pipeChunk{idx, data}
	return nil
}

// close waits until the store has written (or, after cancel, dropped) what
// was sent, wipes the buffers and returns the store's error.
func (p *chunkPipe) close() error {
	p.closed = true
	close(p.work)
	<-p.done
	p.cancel()
	for _, b := range p.bufs {
		clear(b[:cap(b)])
	}
	return p.err
}

// Attachments lists the attachments of the entry at path.
func (d *Database) Attachments(ctx context.Context, path string) ([]Attachment, error) {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return nil, d.notFound(path, err)
	}
	as, err := d.kw.st.Attachments(ctx, se.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, len(as))
	for i, a := range as {
		out[i] = toAttachment(a)
	}
	return out, nil
}

// DeleteAttachment removes one attachment. ErrNotFound if it does not exist.
func (d *Database) DeleteAttachment(ctx context.Context, path, name string) error {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return d.notFound(path, err)
	}
	if err := d.kw.st.DeleteAttachment(ctx, se.ID, name); err != nil {
		return fmt.Errorf("keyward: attachment %q of entry %q: %w", name, path, err)
	}
	return nil
}

// attachmentContext binds an attachment's chunks to its deployment,
// database, entry, own id and name.
func (d *Database) attachmentContext(entryID, attID, name string) crypt.Context {
	return crypt.Context{Deployment: d.kw.DeploymentID(), Database: d.db.ID,
		Record: entryID + ":" + attID + ":" + name, Purpose: "attachment"}
}

func toAttachment(a store.Attachment) Attachment {
	return Attachment{Name: a.Name, Size: a.Size, KeyVersion: a.KeyVersion, Created: a.Created}
}
