package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// recordingDst keeps every byte and the size of every Write it accepts. It
// can sleep in each Write, fail the Write that would take it past limit
// bytes (limit >= 0), or accept one byte less than asked once it holds
// shortAt bytes (shortAt > 0), and it counts Writes made after it failed.
// Writes arrive from the writer's goroutine, hence the mutex.
type recordingDst struct {
	limit   int
	shortAt int
	delay   func() time.Duration

	mu        sync.Mutex
	buf       bytes.Buffer
	sizes     []int
	failed    bool
	afterFail int
}

func newRecordingDst() *recordingDst { return &recordingDst{limit: -1} }

func (d *recordingDst) Write(p []byte) (int, error) {
	if d.delay != nil {
		time.Sleep(d.delay())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed {
		d.afterFail++
		return 0, errDisk
	}
	if d.limit >= 0 && d.buf.Len()+len(p) > d.limit {
		d.failed = true
		return 0, errDisk
	}
	if d.shortAt > 0 && d.buf.Len() >= d.shortAt && len(p) > 0 {
		d.buf.Write(p[:len(p)-1])
		return len(p) - 1, nil
	}
	d.buf.Write(p)
	d.sizes = append(d.sizes, len(p))
	return len(p), nil
}

func (d *recordingDst) bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.buf.Bytes())
}

// writeBehindSizes cross the points where the writer changes behaviour:
// the last synchronous chunk, the first batch, a full batch, reuse of the
// batch buffers.
var writeBehindSizes = []int{
	syncChunks * ChunkSize,
	(syncChunks+1)*ChunkSize - 1,
	(syncChunks + 1) * ChunkSize, // the largest stream without the goroutine
	(syncChunks+1)*ChunkSize + 1,
	(syncChunks+2)*ChunkSize + 3,
	(syncChunks + batchChunks) * ChunkSize, // the last chunk fills the first batch
	(syncChunks+batchChunks)*ChunkSize + 1,
	(syncChunks+wbBufs*batchChunks+3)*ChunkSize + 777,
	10<<20 + 5,
}

// wantWrites is how many Writes dst sees for a stream of size bytes:
// the header, one per synchronous chunk, then one per batch.
func wantWrites(size int) int {
	chunks := max(1, (size+ChunkSize-1)/ChunkSize)
	if chunks <= syncChunks+1 {
		return 1 + chunks
	}
	return 1 + syncChunks + (chunks-syncChunks+batchChunks-1)/batchChunks
}

// writeFixed writes pt through a writer with a fixed salt to dst, in
// Writes of step bytes (0: all at once), and returns the writer.
func writeFixed(t *testing.T, dst io.Writer, salt, pt []byte, step int) *writer {
	t.Helper()
	s, err := newStreamSealerSalt(streamDEK, 3, testCtx, salt)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWriter(dst, s)
	if err != nil {
		t.Fatal(err)
	}
	writeInSteps(t, w, pt, step)
	return w
}

func TestWriteBehindMatchesSealer(t *testing.T) {
	salt := randBytes(t, streamSaltSize)
	for _, size := range writeBehindSizes {
		pt := randBytes(t, size)
		want := sealStream(t, streamDEK, 3, testCtx, salt, pt)
		for _, step := range []int{0, 10007, ChunkSize, ChunkSize + 1, 1 << 20} {
			dst := newRecordingDst()
			w := writeFixed(t, dst, salt, pt, step)
			name := fmt.Sprintf("%d bytes in Writes of %d", size, step)
			if got := dst.bytes(); !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes differ from the StreamSealer's %d", name, len(got), len(want))
			}
			chunks := (size + ChunkSize - 1) / ChunkSize
			if started := w.wb != nil; started != (chunks > syncChunks+1) {
				t.Errorf("%s (%d chunks): write-behind started = %v", name, chunks, started)
			}
			if len(dst.sizes) != wantWrites(size) {
				t.Errorf("%s: %d Writes to dst, want %d", name, len(dst.sizes), wantWrites(size))
			}
			for _, n := range dst.sizes {
				if n > batchSize {
					t.Errorf("%s: a Write of %d bytes, more than a batch", name, n)
				}
			}
			if w.batches > wbBufs {
				t.Errorf("%s: %d batch buffers, at most %d allowed", name, w.batches, wbBufs)
			}
		}
	}
}

// The published vectors, written through the Writer instead of StreamSealer.
func TestWriterVectors(t *testing.T) {
	for _, v := range loadStreamVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			s, err := newStreamSealerSalt(testKey(t, v.DEK), v.Version, v.Context.ctx(), v.Salt)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w, err := newWriter(&buf, s)
			if err != nil {
				t.Fatal(err)
			}
			pt := v.plaintext()
			for len(pt) > 0 { // awkward Write sizes
				n := min(len(pt), 1000)
				w.Write(pt[:n])
				pt = pt[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkStreamBytes(t, v, buf.Bytes())
		})
	}
}

func TestWriteBehindSlowDst(t *testing.T) {
	salt := randBytes(t, streamSaltSize)
	pt := randBytes(t, 10<<20+5)
	want := sealStream(t, streamDEK, 3, testCtx, salt, pt)
	rng := rand.New(rand.NewPCG(3, 4))
	var mu sync.Mutex
	delays := map[string]func() time.Duration{
		"2ms per Write": func() time.Duration { return 2 * time.Millisecond },
		"random": func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(rng.IntN(3000)) * time.Microsecond
		},
	}
	for name, delay := range delays {
		for _, step := range []int{10007, 1 << 20} {
			dst := newRecordingDst()
			dst.delay = delay
			writeFixed(t, dst, salt, pt, step)
			if got := dst.bytes(); !bytes.Equal(got, want) {
				t.Errorf("%s, Writes of %d: %d bytes differ from the StreamSealer's %d", name, step, len(got), len(want))
			}
		}
	}
}

// Several writers at once, each with its own dst (run with -race).
func TestWriteBehindConcurrentWriters(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			salt := randBytes(t, streamSaltSize)
			pt := randBytes(t, 3<<20+g*1000)
			dst := newRecordingDst()
			dst.delay = func() time.Duration { return 200 * time.Microsecond }
			writeFixed(t, dst, salt, pt, 100003)
			if !bytes.Equal(dst.bytes(), sealStream(t, streamDEK, 3, testCtx, salt, pt)) {
				t.Errorf("writer %d: wrong bytes", g)
			}
		})
	}
	wg.Wait()
}

// waitGoroutines waits until no more than base goroutines run, running the
// garbage collector too when gc is set (for cleanups).
func waitGoroutines(t *testing.T, base int, gc bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines, %d before", what, runtime.NumGoroutine(), base)
		}
		if gc {
			runtime.GC()
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriteBehindDstFails(t *testing.T) {
	const size = 8 << 20
	salt := randBytes(t, streamSaltSize)
	pt := randBytes(t, size)
	want := sealStream(t, streamDEK, 3, testCtx, salt, pt)
	limits := []int{
		0,
		5 * fullChunk,
		syncChunks * fullChunk, // the first batch fails
		syncChunks*fullChunk + 1,
		(syncChunks + batchChunks) * fullChunk, // the second batch fails
		(syncChunks+3*batchChunks)*fullChunk + 100,
		(syncChunks+6*batchChunks)*fullChunk + 100,
		len(want) - StreamHeaderSize - 1, // the final batch fails
	}
	for _, limit := range limits {
		for _, step := range []int{10007, 1 << 20, size} {
			for _, closeIt := range []bool{true, false} {
				name := fmt.Sprintf("dst fails after %d bytes, Writes of %d, Close %v", StreamHeaderSize+limit, step, closeIt)
				base := runtime.NumGoroutine()
				s, err := newStreamSealerSalt(streamDEK, 3, testCtx, salt)
				if err != nil {
					t.Fatal(err)
				}
				dst := newRecordingDst()
				dst.limit = StreamHeaderSize + limit
				dst.delay = func() time.Duration { return 100 * time.Microsecond }
				w, err := newWriter(dst, s)
				if err != nil {
					t.Fatal(err)
				}
				var werr error
				for p := pt; len(p) > 0 && werr == nil; {
					n := min(step, len(p))
					_, werr = w.Write(p[:n])
					p = p[n:]
				}
				if werr != nil {
					if !errors.Is(werr, errDisk) {
						t.Errorf("%s: Write = %v, want the dst error", name, werr)
					}
					if _, err := w.Write([]byte("x")); !errors.Is(err, errDisk) {
						t.Errorf("%s: Write after the failure = %v, want the dst error", name, err)
					}
				}
				if closeIt {
					if err := w.Close(); !errors.Is(err, errDisk) {
						t.Errorf("%s: Close = %v (Write said %v), want the dst error", name, err, werr)
					}
				} else if werr == nil {
					// The error is still in flight; only Close could report it.
					w.Close()
				}
				// No goroutine is left, even without Close after a failed Write.
				waitGoroutines(t, base, false, name)
				dst.mu.Lock()
				failed, after := dst.failed, dst.afterFail
				dst.mu.Unlock()
				if !failed || after != 0 {
					t.Errorf("%s: dst failed = %v, then %d more Writes, want none", name, failed, after)
				}
				if got := dst.bytes(); !bytes.HasPrefix(want, got) {
					t.Errorf("%s: dst holds %d bytes that are not a prefix of the stream", name, len(got))
				}
			}
		}
	}
}

func TestWriterShortWrite(t *testing.T) {
	for _, at := range []int{StreamHeaderSize + fullChunk, StreamHeaderSize + (syncChunks+batchChunks)*fullChunk} {
		dst := newRecordingDst()
		dst.shortAt = at
		w, err := NewWriter(dst, streamDEK, 3, testCtx)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := w.Write(make([]byte, 4<<20))
		cerr := w.Close()
		if !errors.Is(werr, io.ErrShortWrite) && !errors.Is(cerr, io.ErrShortWrite) {
			t.Errorf("short write at %d: Write = %v, Close = %v, want io.ErrShortWrite", at, werr, cerr)
		}
	}
}

func TestWriteBehindGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	w, err := NewWriter(newRecordingDst(), streamDEK, 3, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, (syncChunks+1)*ChunkSize)); err != nil {
		t.Fatal(err)
	}
	// wb is created exactly when the goroutine starts; counting goroutines
	// here would be disturbed by other tests' goroutines winding down.
	if w.(*writer).wb != nil {
		t.Error("a goroutine started before chunk syncChunks")
	}
	if _, err := w.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if w.(*writer).wb == nil {
		t.Fatal("no write-behind after 4 MiB")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, base, false, "after Close")

	// A writer dropped without Close: its goroutine ends once the writer
	// is collected.
	dst := newRecordingDst()
	abandonWriter(t, dst)
	waitGoroutines(t, base, true, "after dropping a writer without Close")
	if got := dst.bytes(); len(got) >= int(EncryptedSize(5<<20)) {
		t.Errorf("the dropped writer wrote %d bytes, a whole stream", len(got))
	}
}

//go:noinline
func abandonWriter(t *testing.T, dst io.Writer) {
	w, err := NewWriter(dst, streamDEK, 3, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 5<<20)); err != nil {
		t.Fatal(err)
	}
	if w.(*writer).wb == nil {
		t.Fatal("no write-behind after 5 MiB")
	}
}

func TestWriteBehindCloseWipes(t *testing.T) {
	w, err := NewWriter(newRecordingDst(), streamDEK, 3, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte("secret!"), (3<<20+12345)/7)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ww := w.(*writer)
	if wb := ww.buf; cap(wb) == 0 || bytes.Count(wb[:cap(wb)], []byte{0}) != cap(wb) {
		t.Error("Close left plaintext in the buffer")
	}
	if ww.batch != nil {
		t.Error("Close kept a batch")
	}
}

// gatedDst blocks every Write until the test sends on release, and counts
// the Writes it finished.
type gatedDst struct {
	release chan struct{}
	mu      sync.Mutex
	writes  int
}

func (d *gatedDst) Write(p []byte) (int, error) {
	<-d.release
	d.mu.Lock()
	d.writes++
	d.mu.Unlock()
	return len(p), nil
}

// After a failure of the writer itself (here the 2^32-chunk limit), Close
// writes none of the batches still queued: only the one dst already holds.
func TestWriteBehindSealErrorDiscardsQueued(t *testing.T) {
	dst := &gatedDst{release: make(chan struct{}, 1000)}
	for range 1 + syncChunks { // the header and the synchronous chunks
		dst.release <- struct{}{}
	}
	w, err := NewWriter(dst, streamDEK, 3, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	ww := w.(*writer)
	// Three full batches (one in dst.Write, two queued) and one chunk in
	// the fourth batch; one byte stays buffered.
	p := make([]byte, (syncChunks+3*batchChunks+1)*ChunkSize+1)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	wb := ww.wb
	waitFor(t, "two queued batches", func() bool { return len(wb.full) == 2 })
	ww.s.next = maxChunkIndex // the next non-last chunk fails
	if _, err := w.Write(p[:2*ChunkSize]); err == nil {
		t.Fatal("Write past 2^32 chunks succeeded")
	}
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	// Close drops the queued batches while dst still holds the first.
	waitFor(t, "Close to drop the queued batches", func() bool { return len(wb.full) == 0 })
	for range wbBufs {
		dst.release <- struct{}{}
	}
	if err := <-closed; err == nil {
		t.Error("Close after a failed Write = nil")
	}
	if dst.writes != 1+syncChunks+1 {
		t.Errorf("dst got %d Writes, want %d (header, %d chunks, the batch in flight)", dst.writes, 1+syncChunks+1, syncChunks)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
