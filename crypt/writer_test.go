package crypt

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// writeSizes are the sizes of the successive Write calls in
// TestWriterMatchesSealer; 0 means everything at once.
var writeSizes = []int{0, 1, 7, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize}

// writeInSteps writes pt to w in Writes of step bytes (0: all at once),
// failing on any short or failed Write, then closes w.
func writeInSteps(t testing.TB, w io.WriteCloser, pt []byte, step int) {
	t.Helper()
	if step == 0 {
		step = max(1, len(pt))
	}
	for p := pt; len(p) > 0; {
		n := min(step, len(p))
		if k, err := w.Write(p[:n]); k != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

func writeStream(t testing.TB, pt []byte, step int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, streamDEK, 2, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	writeInSteps(t, w, pt, step)
	return buf.Bytes()
}

func TestWriterMatchesSealer(t *testing.T) {
	for _, size := range streamSizes {
		pt := randBytes(t, size)
		for _, step := range writeSizes {
			if step == 1 && size > 2*ChunkSize {
				continue
			}
			ct := writeStream(t, pt, step)
			// The Writer must chunk exactly like the reference sealer.
			want := sealStream(t, streamDEK, 2, testCtx, ct[5:StreamHeaderSize], pt)
			if !bytes.Equal(ct, want) {
				t.Errorf("Writer(%d bytes in writes of %d) differs from SealChunk output (%d vs %d bytes)", size, step, len(ct), len(want))
			}
			if int64(len(ct)) != EncryptedSize(int64(size)) {
				t.Errorf("Writer(%d bytes) wrote %d, EncryptedSize = %d", size, len(ct), EncryptedSize(int64(size)))
			}
			if got, err := openStream(streamDEK, testCtx, ct); err != nil || !bytes.Equal(got, pt) {
				t.Errorf("openStream(Writer(%d bytes)) = %d bytes, %v", size, len(got), err)
			}
		}
	}
}

func TestWriterWithoutClose(t *testing.T) {
	for _, size := range []int{0, 10, ChunkSize, 2*ChunkSize + 5} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, streamDEK, 2, testCtx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(randBytes(t, size))
		if _, err := openStream(streamDEK, testCtx, buf.Bytes()); !isAuthOrFormat(err) {
			t.Errorf("stream of %d bytes without Close: openStream = %v, want ErrAuth or ErrFormat", size, err)
		}
	}
}

func TestWriterClose(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, streamDEK, 2, testCtx)
	w.Write([]byte("plaintext that must not linger"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if wb := w.(*writer).buf; cap(wb) == 0 || bytes.Count(wb[:cap(wb)], []byte{0}) != cap(wb) {
		t.Error("Close left plaintext in the buffer")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterErrorsStick(t *testing.T) {
	if _, err := NewWriter(&failingWriter{}, streamDEK, 1, testCtx); !errors.Is(err, errDisk) {
		t.Errorf("NewWriter(failing dst) = %v, want the dst error", err)
	}
	w, err := NewWriter(&failingWriter{n: StreamHeaderSize + fullChunk}, streamDEK, 1, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(make([]byte, 3*ChunkSize))
	if !errors.Is(err, errDisk) {
		t.Errorf("Write past the dst's capacity = %v, want the dst error", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, errDisk) {
		t.Errorf("Write after a dst error = %v, want the dst error again", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close after a dst error = %v, want the dst error", err)
	}
}

// countingWriter counts bytes and keeps none.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// allocsWriting returns the bytes and objects allocated while writing size
// bytes through NewWriter in writes of an awkward size, and how many batch
// buffers the writer allocated.
func allocsWriting(t *testing.T, size int) (bytes, objects uint64, batches int) {
	chunk := make([]byte, 10007)
	var dst countingWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := NewWriter(&dst, streamDEK, 1, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	for left := size; left > 0; left -= len(chunk) {
		w.Write(chunk[:min(left, len(chunk))])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if dst.n != EncryptedSize(int64(size)) {
		t.Fatalf("wrote %d bytes, want %d", dst.n, EncryptedSize(int64(size)))
	}
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs, w.(*writer).batches
}

func TestWriterConstantMemory(t *testing.T) {
	smallB, smallN, smallBatches := allocsWriting(t, 1<<20)
	bigB, bigN, bigBatches := allocsWriting(t, 64<<20)
	t.Logf("1 MiB: %d bytes in %d allocations, %d batches; 64 MiB: %d bytes in %d allocations, %d batches",
		smallB, smallN, smallBatches, bigB, bigN, bigBatches)
	if smallBatches != 0 || bigBatches < 1 || bigBatches > wbBufs {
		t.Errorf("batch buffers: %d for 1 MiB (want 0), %d for 64 MiB (want 1..%d)", smallBatches, bigBatches, wbBufs)
	}
	// Beyond its batch buffers (about 1 MiB each, allocated once, at most
	// wbBufs), the writer's memory does not depend on the stream's size.
	batchBytes := uint64(bigBatches) * batchSize
	if bigB > smallB+batchBytes+64<<10 || bigN > smallN+64 {
		t.Errorf("writing 64 MiB allocated %d bytes in %d objects (%d in batches), 1 MiB %d in %d: memory grows with size",
			bigB, bigN, batchBytes, smallB, smallN)
	}
	if bigB > wbBufs*batchSize+1<<20 {
		t.Errorf("writing 64 MiB allocated %d bytes, want at most %d batches and well under 1 MiB more", bigB, wbBufs)
	}
}

var _ io.WriteCloser = (*writer)(nil)
