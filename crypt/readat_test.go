package crypt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
)

// countingReaderAt records which byte ranges were read from it.
type countingReaderAt struct {
	r     *bytes.Reader
	mu    sync.Mutex
	reads [][2]int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, int64(len(p))})
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

func TestReaderRandomAccess(t *testing.T) {
	pt := randBytes(t, 3*ChunkSize+1234)
	ct := sealStream(t, streamDEK, 1, testCtx, nil, pt)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(pt)) {
		t.Fatalf("Size() = %d, want %d", r.Size(), len(pt))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 600 {
		off := rng.Int64N(int64(len(pt)) + 10)
		n := rng.IntN(3 * ChunkSize)
		if i%3 == 0 { // around a chunk boundary
			off = max(0, int64(rng.IntN(4))*ChunkSize+int64(rng.IntN(9))-4)
			n = rng.IntN(20)
		}
		p := make([]byte, n)
		got, err := r.ReadAt(p, off)
		want := max(0, min(int64(n), int64(len(pt))-off))
		if int64(got) != want || !bytes.Equal(p[:got], pt[min(off, int64(len(pt))):][:got]) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d bytes of the plaintext", n, off, got, err, want)
		}
		if (int64(got) < int64(n)) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", n, off, got, err)
		}
	}
	// Seek then Read.
	for range 200 {
		off := rng.Int64N(int64(len(pt)))
		if pos, err := r.Seek(off-int64(len(pt)), io.SeekEnd); pos != off || err != nil {
			t.Fatalf("Seek = %d, %v, want %d", pos, err, off)
		}
		p := make([]byte, rng.IntN(2*ChunkSize)+1)
		n, err := io.ReadFull(r, p)
		if err != nil && err != io.ErrUnexpectedEOF || !bytes.Equal(p[:n], pt[off:][:n]) {
			t.Fatalf("Read after Seek(%d) = %d, %v", off, n, err)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek(-1) succeeded")
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt(-1) succeeded")
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, pt); err != nil {
		t.Error(err)
	}
}

func TestReaderConcurrentReadAt(t *testing.T) {
	pt := randBytes(t, 4*ChunkSize+99)
	ct := sealStream(t, streamDEK, 1, testCtx, nil, pt)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 50 {
				off, p := rng.IntN(len(pt)), make([]byte, rng.IntN(ChunkSize))
				n, _ := r.ReadAt(p, int64(off))
				if !bytes.Equal(p[:n], pt[off:][:n]) || n != min(len(p), len(pt)-off) {
					t.Errorf("concurrent ReadAt(%d bytes, %d) = %d, wrong bytes", len(p), off, n)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestReaderDecryptsOnlyWhatItReads(t *testing.T) {
	ct := sealStream(t, streamDEK, 1, testCtx, nil, randBytes(t, 5*ChunkSize+7))
	src := &countingReaderAt{r: bytes.NewReader(ct)}
	r, err := NewReader(src, int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	last := [2]int64{StreamHeaderSize + 5*fullChunk, 7 + ChunkOverhead}
	if want := [][2]int64{{0, StreamHeaderSize}, last}; !equalReads(src.reads, want) {
		t.Errorf("NewReader read %v, want %v (header and last chunk)", src.reads, want)
	}
	src.reads = nil
	p := make([]byte, 10)
	r.ReadAt(p, 2*ChunkSize+100)
	r.ReadAt(p, 2*ChunkSize+200) // cached
	r.ReadAt(p, 3*ChunkSize-5)   // spans chunks 2 and 3
	want := [][2]int64{{StreamHeaderSize + 2*fullChunk, fullChunk}, {StreamHeaderSize + 3*fullChunk, fullChunk}}
	if !equalReads(src.reads, want) {
		t.Errorf("reads = %v, want %v", src.reads, want)
	}
}

func equalReads(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderEdges(t *testing.T) {
	ct := sealStream(t, streamDEK, 1, testCtx, nil, nil)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read(empty stream) = %d, %v, want 0, EOF", n, err)
	}
	if n, err := r.ReadAt(make([]byte, 8), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(empty stream) = %d, %v, want 0, EOF", n, err)
	}
	r.Close()
	if _, err := r.ReadAt(make([]byte, 8), 0); err == nil || err == io.EOF {
		t.Errorf("ReadAt after Close = %v, want an error", err)
	}
	// A source shorter than the stated size is an I/O error, not ErrAuth.
	full := sealStream(t, streamDEK, 1, testCtx, nil, randBytes(t, 100))
	_, err = NewReader(bytes.NewReader(full[:60]), int64(len(full)), streamDEK, testCtx)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewReader(short source) = %v, want io.ErrUnexpectedEOF", err)
	}
}
