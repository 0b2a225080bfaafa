package keyward

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// recordingWriter keeps what WriteChunk receives, and the slices it was
// given (which a real store must not keep), to check that they are wiped.
type recordingWriter struct {
	failAt int64 // fail from this index on; -1: never

	busy   atomic.Bool
	mu     sync.Mutex
	chunks [][]byte // copies
	given  [][]byte // the caller's slices
	closed bool     // set by the test when sealChunks has returned
	errs   []string
}

func (w *recordingWriter) WriteChunk(_ context.Context, index int64, data []byte) error {
	if !w.busy.CompareAndSwap(false, true) {
		w.fail("WriteChunk called concurrently")
	}
	defer w.busy.Store(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.errs = append(w.errs, "WriteChunk called after sealChunks returned")
	}
	if w.failAt >= 0 && index >= w.failAt {
		return errStore
	}
	if index != int64(len(w.chunks)) {
		w.errs = append(w.errs, "chunk out of order")
	}
	w.chunks = append(w.chunks, bytes.Clone(data))
	w.given = append(w.given, data)
	return nil
}

// batchRecordingWriter is a recordingWriter that also takes batches
// (store.ChunkBatchWriter); it records them chunk by chunk.
type batchRecordingWriter struct {
	*recordingWriter
	batches int
}

func (w *batchRecordingWriter) WriteChunks(ctx context.Context, first int64, data []byte, chunkLen int) error {
	if chunkLen != crypt.ChunkSize+crypt.ChunkOverhead || len(data) == 0 || len(data) > batchChunks*chunkLen {
		w.fail("batch of an unexpected shape")
	}
	w.mu.Lock()
	w.batches++
	w.mu.Unlock()
	for off, i := 0, first; off < len(data); i++ {
		end := min(off+chunkLen, len(data))
		if err := w.WriteChunk(ctx, i, data[off:end]); err != nil {
			return err
		}
		off = end
	}
	return nil
}

func (w *recordingWriter) fail(msg string) {
	w.mu.Lock()
	w.errs = append(w.errs, msg)
	w.mu.Unlock()
}

func (w *recordingWriter) Commit(context.Context, store.Attachment) (store.Attachment, error) {
	return store.Attachment{}, errors.New("not used")
}
func (w *recordingWriter) Abort(context.Context) error { return nil }

var errStore = errors.New("store failed")

func testSealer(t *testing.T) (*crypt.StreamSealer, func() *crypt.StreamOpener) {
	t.Helper()
	dek := secret.Random(crypt.KeySize)
	c := crypt.Context{Deployment: "d", Database: "db", Record: "r", Purpose: "attachment"}
	s, err := crypt.NewStreamSealer(dek, 1, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, func() *crypt.StreamOpener {
		o, err := crypt.NewStreamOpener(dek, s.Header(), c)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
}

// erringReader returns its data, then err.
type erringReader struct {
	r   io.Reader
	err error
}

func (e *erringReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

// writerKinds runs a test against a store writer with and without the
// batch method.
var writerKinds = []struct {
	name string
	wrap func(*recordingWriter) store.AttachmentWriter
}{
	{"batches", func(w *recordingWriter) store.AttachmentWriter { return &batchRecordingWriter{recordingWriter: w} }},
	{"chunk by chunk", func(w *recordingWriter) store.AttachmentWriter { return w }},
}

func TestSealChunksPipeline(t *testing.T) {
	const cs = crypt.ChunkSize
	for _, kind := range writerKinds {
		for _, size := range []int{0, 1, cs - 1, cs, cs + 1, batchChunks * cs, batchChunks*cs + 1,
			(batchChunks+1)*cs - 1, (batchChunks + 1) * cs, (batchChunks+1)*cs + 1, 2 * batchChunks * cs,
			3*batchChunks*cs + 77} {
			body := make([]byte, size)
			rand.NewChaCha8([32]byte{byte(size)}).Read(body)
			s, opener := testSealer(t)
			w := &recordingWriter{failAt: -1}
			sw := kind.wrap(w)
			a, err := sealChunks(t.Context(), bytes.NewReader(body), s, sw, store.Attachment{ID: "x"})
			w.mu.Lock()
			w.closed = true
			w.mu.Unlock()
			if err != nil {
				t.Fatalf("%s, size %d: sealChunks() = %v", kind.name, size, err)
			}
			wantChunks := max(1, (size+cs-1)/cs)
			if a.Size != int64(size) || a.Chunks != int64(wantChunks) || len(w.chunks) != wantChunks {
				t.Fatalf("%s, size %d: got size %d, %d chunks (%d written), want %d chunks", kind.name, size, a.Size, a.Chunks, len(w.chunks), wantChunks)
			}
			if bw, ok := sw.(*batchRecordingWriter); ok && bw.batches != (wantChunks+batchChunks-1)/batchChunks {
				t.Errorf("%s, size %d: %d batches for %d chunks", kind.name, size, bw.batches, wantChunks)
			}
			o := opener()
			var got []byte
			for i, c := range w.chunks {
				pt, err := o.OpenChunk(nil, uint64(i), c, i == len(w.chunks)-1)
				if err != nil {
					t.Fatalf("%s, size %d: chunk %d does not open: %v", kind.name, size, i, err)
				}
				got = append(got, pt...)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("%s, size %d: chunks decrypt to something else", kind.name, size)
			}
			for i, g := range w.given {
				if g := g[:cap(g)]; !bytes.Equal(g, make([]byte, len(g))) {
					t.Fatalf("%s, size %d: buffer of chunk %d not wiped after sealChunks returned", kind.name, size, i)
				}
			}
			if len(w.errs) > 0 {
				t.Fatalf("%s, size %d: %v", kind.name, size, w.errs)
			}
		}
	}
}

func TestSealChunksErrors(t *testing.T) {
	body := make([]byte, 10*batchChunks*crypt.ChunkSize)
	errSource := errors.New("source failed")
	for _, kind := range writerKinds {
		for _, c := range []struct {
			name   string
			failAt int64
			src    io.Reader
			want   error
		}{
			{"store fails at once", 0, bytes.NewReader(body), errStore},
			{"store fails later", 2*batchChunks + 3, bytes.NewReader(body), errStore},
			{"source fails", -1, &erringReader{bytes.NewReader(body[:5*crypt.ChunkSize+9]), errSource}, errSource},
			{"source fails late", -1, &erringReader{bytes.NewReader(body[:5*batchChunks*crypt.ChunkSize+9]), errSource}, errSource},
			{"source fails after a failed store", 1, &erringReader{bytes.NewReader(body[:5*crypt.ChunkSize+9]), errSource}, nil},
		} {
			t.Run(kind.name+"/"+c.name, func(t *testing.T) {
				s, _ := testSealer(t)
				w := &recordingWriter{failAt: c.failAt}
				src := &countingSource{r: c.src}
				_, err := sealChunks(t.Context(), src, s, kind.wrap(w), store.Attachment{})
				w.mu.Lock()
				w.closed = true
				w.mu.Unlock()
				if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
					t.Fatalf("sealChunks() = %v, want %v", err, c.want)
				}
				if c.failAt >= 0 {
					// The source is not read much past the failure: the
					// failing batch, the other batches of the pipe and the
					// chunk read ahead after them.
					failed := c.failAt / batchChunks
					if limit := int((failed+pipeBatches)*batchChunks+1) * crypt.ChunkSize; src.n > limit {
						t.Errorf("read %d bytes, want at most %d after the store failed at chunk %d", src.n, limit, c.failAt)
					}
				}
				for i, g := range w.given {
					if g := g[:cap(g)]; !bytes.Equal(g, make([]byte, len(g))) {
						t.Fatalf("buffer of chunk %d not wiped", i)
					}
				}
				if len(w.errs) > 0 {
					t.Fatal(w.errs)
				}
			})
		}
	}
}

type countingSource struct {
	r io.Reader
	n int
}

func (c *countingSource) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// panicReader panics once it has returned n bytes.
type panicReader struct {
	r io.Reader
	n int
}

func (p *panicReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		panic("source panicked")
	}
	k, err := p.r.Read(b[:min(len(b), p.n)])
	p.n -= k
	return k, err
}

// TestSealChunksSourcePanics checks that a panicking source still stops
// the storing goroutine and wipes the buffers before the panic goes on.
func TestSealChunksSourcePanics(t *testing.T) {
	s, _ := testSealer(t)
	w := &recordingWriter{failAt: -1}
	src := &panicReader{r: bytes.NewReader(make([]byte, 100*crypt.ChunkSize)), n: 3*batchChunks*crypt.ChunkSize + 5}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("sealChunks did not pass the panic on")
			}
		}()
		sealChunks(t.Context(), src, s, w, store.Attachment{})
	}()
	w.mu.Lock()
	w.closed = true
	defer w.mu.Unlock()
	if len(w.given) == 0 {
		t.Fatal("nothing was written before the panic")
	}
	for i, g := range w.given {
		if g := g[:cap(g)]; !bytes.Equal(g, make([]byte, len(g))) {
			t.Fatalf("buffer of chunk %d not wiped", i)
		}
	}
}
