package crypt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Reads that cover whole chunks from their first byte decrypt straight into
// the caller's buffer and leave the Reader's cached chunk alone.
func TestReaderWholeChunks(t *testing.T) {
	pt := randBytes(t, 5*ChunkSize+123)
	ct := sealStream(t, streamDEK, 1, testCtx, nil, pt)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := int64(len(pt))
	cases := []struct{ off, n int64 }{
		{0, ChunkSize},
		{0, 2*ChunkSize + 5},           // two whole chunks, then part of one
		{ChunkSize, 3 * ChunkSize},     // middle chunks
		{2 * ChunkSize, ChunkSize - 1}, // part of a chunk only
		{3 * ChunkSize, size - 3*ChunkSize},
		{3 * ChunkSize, size - 3*ChunkSize + 100}, // past the end
		{5 * ChunkSize, 123},                      // the last chunk, whole
		{0, size},
	}
	for _, c := range cases {
		p := make([]byte, c.n)
		n, err := r.ReadAt(p, c.off)
		want := min(c.n, size-c.off)
		if int64(n) != want || !bytes.Equal(p[:n], pt[c.off:c.off+want]) {
			t.Errorf("ReadAt(%d bytes, %d) = %d, %v, or wrong bytes", c.n, c.off, n, err)
		}
		if (want < c.n) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(%d bytes, %d) = %d, %v", c.n, c.off, n, err)
		}
	}
	// Whole-chunk reads went around the cache: it still holds the chunk
	// the only partial read above decrypted.
	if r.cur != 2 {
		t.Errorf("cached chunk %d, want 2", r.cur)
	}

	// Sequential Reads in 1 MiB and odd sizes, as io.CopyBuffer does.
	for _, bufSize := range []int{1 << 20, ChunkSize, ChunkSize + 1, 3*ChunkSize - 7} {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := io.CopyBuffer(writerOnly{&out}, r, make([]byte, bufSize)); err != nil || !bytes.Equal(out.Bytes(), pt) {
			t.Errorf("io.CopyBuffer with a %d-byte buffer: %d bytes, %v", bufSize, out.Len(), err)
		}
	}
}

type writerOnly struct{ io.Writer }

// A chunk that fails while being decrypted into the caller's buffer leaves
// none of its bytes there; the chunks before it are returned.
func TestReaderWholeChunkFails(t *testing.T) {
	pt := randBytes(t, 3*ChunkSize+17)
	ct := swapChunks(sealStream(t, streamDEK, 1, testCtx, nil, pt), 1, 2)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := bytes.Repeat([]byte{0xaa}, 3*ChunkSize)
	n, err := r.ReadAt(p, 0)
	if n != ChunkSize || !errors.Is(err, ErrAuth) {
		t.Fatalf("ReadAt over a swapped chunk = %d, %v, want %d, ErrAuth", n, err, ChunkSize)
	}
	if !bytes.Equal(p[:ChunkSize], pt[:ChunkSize]) {
		t.Error("the good chunk before the failing one was not returned")
	}
	for i, b := range p[ChunkSize:] {
		if b != 0 && b != 0xaa {
			t.Fatalf("byte %d of the failing chunk's part of p was written: %#x", ChunkSize+i, b)
		}
	}
	// The same through Read: the good chunk, then ErrAuth and nothing more.
	p = make([]byte, 3*ChunkSize)
	if n, err := r.Read(p); n != ChunkSize || err != ErrAuth {
		t.Errorf("Read = %d, %v, want %d, ErrAuth", n, err, ChunkSize)
	}
	if n, err := r.Read(p); n != 0 || err != ErrAuth || bytes.Count(p[:ChunkSize], []byte{0}) != ChunkSize {
		t.Errorf("Read at the failing chunk = %d, %v, or left bytes in p", n, err)
	}
}
