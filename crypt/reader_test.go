package crypt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/keyward/keyward/secret"
)

// checkRejected opens a tampered stream and fails the test unless it is
// rejected with ErrAuth or ErrFormat, and unless whatever plaintext came
// out before the error is whole chunks of the original.
func checkRejected(t *testing.T, name string, ct, pt []byte) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		if !isAuthOrFormat(err) {
			t.Errorf("%s: NewReader = %v, want ErrAuth or ErrFormat", name, err)
		}
		return
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrAuth) {
		t.Errorf("%s: read %d bytes, %v; want ErrAuth", name, len(got), err)
	}
	if len(got)%ChunkSize != 0 || !bytes.HasPrefix(pt, got) {
		t.Errorf("%s: returned %d bytes that are not whole authentic chunks", name, len(got))
	}
}

// streamDEK is the DEK of the stream tests and fuzz targets.
var streamDEK = secret.Random(KeySize)

// tamperCases build altered copies of a 4-chunk stream ct; other is
// another stream of the same plaintext, key and Context.
var tamperCases = []struct {
	name    string
	alter   func(ct, other []byte) []byte
	atStart bool // must fail in NewReader already
}{
	{"truncated at chunk boundary 1", func(ct, _ []byte) []byte { return ct[:StreamHeaderSize+fullChunk] }, true},
	{"truncated at chunk boundary 2", func(ct, _ []byte) []byte { return ct[:StreamHeaderSize+2*fullChunk] }, true},
	{"truncated at chunk boundary 3", func(ct, _ []byte) []byte { return ct[:StreamHeaderSize+3*fullChunk] }, true},
	{"truncated by 1 byte", func(ct, _ []byte) []byte { return ct[:len(ct)-1] }, true},
	{"header only", func(ct, _ []byte) []byte { return ct[:StreamHeaderSize] }, true},
	{"chunk 0 dropped", func(ct, _ []byte) []byte { return dropChunk(ct, 0) }, true},
	{"chunk 1 dropped", func(ct, _ []byte) []byte { return dropChunk(ct, 1) }, true},
	{"chunk 2 dropped", func(ct, _ []byte) []byte { return dropChunk(ct, 2) }, true},
	{"chunk 0 appended again", func(ct, _ []byte) []byte { return cat(ct, chunkAt(ct, 0)) }, true},
	{"1 byte appended", func(ct, _ []byte) []byte { return cat(ct, []byte{0}) }, true},
	{"16 bytes appended", func(ct, _ []byte) []byte { return cat(ct, make([]byte, 16)) }, true},
	{"17 bytes appended", func(ct, _ []byte) []byte { return cat(ct, make([]byte, 17)) }, true},
	{"last chunk from another stream", func(ct, o []byte) []byte { return cat(ct[:StreamHeaderSize+3*fullChunk], chunkAt(o, 3)) }, true},
	{"header from another stream", func(ct, o []byte) []byte { return cat(o[:StreamHeaderSize], ct[StreamHeaderSize:]) }, true},
	{"chunks 0 and 1 swapped", func(ct, _ []byte) []byte { return swapChunks(ct, 0, 1) }, false},
	{"chunks 1 and 2 swapped", func(ct, _ []byte) []byte { return swapChunks(ct, 1, 2) }, false},
	{"chunk 1 from another stream", func(ct, o []byte) []byte { return replaceChunk(ct, 1, chunkAt(o, 1)) }, false},
	{"chunk 0 duplicated over chunk 1", func(ct, _ []byte) []byte { return replaceChunk(ct, 1, chunkAt(ct, 0)) }, false},
}

func cat(a, b []byte) []byte { return append(bytes.Clone(a), b...) }

func dropChunk(ct []byte, i int) []byte {
	start := StreamHeaderSize + i*fullChunk
	return cat(ct[:start], ct[start+fullChunk:])
}

func replaceChunk(ct []byte, i int, chunk []byte) []byte {
	out := bytes.Clone(ct)
	copy(out[StreamHeaderSize+i*fullChunk:], chunk)
	return out
}

func swapChunks(ct []byte, i, j int) []byte {
	return replaceChunk(replaceChunk(ct, i, chunkAt(ct, j)), j, chunkAt(ct, i))
}

func TestStreamTamper(t *testing.T) {
	pt := randBytes(t, 3*ChunkSize+17)
	ct := sealStream(t, streamDEK, 5, testCtx, nil, pt)
	other := sealStream(t, streamDEK, 5, testCtx, nil, pt)
	if got, err := openStream(streamDEK, testCtx, ct); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("openStream(untouched) = %d bytes, %v", len(got), err)
	}
	for _, tc := range tamperCases {
		bad := tc.alter(ct, other)
		if tc.atStart {
			if _, err := NewReader(bytes.NewReader(bad), int64(len(bad)), streamDEK, testCtx); !isAuthOrFormat(err) {
				t.Errorf("%s: NewReader = %v, want ErrAuth or ErrFormat", tc.name, err)
			}
		}
		checkRejected(t, tc.name, bad, pt)
	}
}

func TestStreamTamperBytes(t *testing.T) {
	pt := randBytes(t, 3*ChunkSize+17)
	ct := sealStream(t, streamDEK, 5, testCtx, nil, pt)
	var positions []int
	for i := range StreamHeaderSize {
		positions = append(positions, i)
	}
	for c := range 4 {
		chunk := StreamHeaderSize + c*fullChunk
		end := min(chunk+fullChunk, len(ct))
		for k := range 24 {
			positions = append(positions, chunk+k, end-1-k)
		}
	}
	for range 100 {
		positions = append(positions, StreamHeaderSize+rand.IntN(len(ct)-StreamHeaderSize))
	}
	for _, i := range positions {
		checkRejected(t, "byte flipped", flip(ct, i), pt)
	}
	// A short stream: every byte.
	small := []byte("The quick brown fox jumps over the lazy dog.")
	sct := sealStream(t, streamDEK, 5, testCtx, nil, small)
	for i := range sct {
		if _, err := openStream(streamDEK, testCtx, flip(sct, i)); !isAuthOrFormat(err) {
			t.Errorf("short stream, byte %d flipped: %v, want ErrAuth or ErrFormat", i, err)
		}
	}
	for n := range len(sct) {
		if _, err := openStream(streamDEK, testCtx, sct[:n]); !isAuthOrFormat(err) {
			t.Errorf("short stream truncated to %d bytes: %v, want ErrAuth or ErrFormat", n, err)
		}
		if n < StreamHeaderSize+ChunkOverhead {
			if _, err := openStream(streamDEK, testCtx, sct[:n]); !errors.Is(err, ErrFormat) {
				t.Errorf("short stream truncated to %d bytes: %v, want ErrFormat", n, err)
			}
		}
	}
}

func TestStreamBinding(t *testing.T) {
	pt := randBytes(t, ChunkSize+3)
	ct := sealStream(t, streamDEK, 5, testCtx, nil, pt)
	for _, o := range otherContexts {
		if _, err := openStream(streamDEK, o.c, ct); err != ErrAuth {
			t.Errorf("%s: openStream = %v, want ErrAuth", o.name, err)
		}
	}
	if _, err := openStream(randomKey(t), testCtx, ct); err != ErrAuth {
		t.Errorf("wrong key: openStream = %v, want ErrAuth", err)
	}
	if _, err := openStream(streamDEK, testCtx, flip(ct, 0)); !errors.Is(err, ErrFormat) {
		t.Errorf("format byte changed: openStream = %v, want ErrFormat", err)
	}
}

func TestReaderFailingChunkLeaksNothing(t *testing.T) {
	pt := randBytes(t, 3*ChunkSize)
	ct := swapChunks(sealStream(t, streamDEK, 1, testCtx, nil, pt), 0, 1)
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := bytes.Repeat([]byte{0xaa}, 2*ChunkSize)
	if n, err := r.ReadAt(p, 10); n != 0 || err != ErrAuth || bytes.Count(p, []byte{0xaa}) != len(p) {
		t.Errorf("ReadAt over a swapped chunk = %d, %v, or wrote into p", n, err)
	}
	// The untouched last chunk still reads.
	if n, err := r.ReadAt(p[:5], 2*ChunkSize+1); n != 5 || err != nil || !bytes.Equal(p[:5], pt[2*ChunkSize+1:][:5]) {
		t.Errorf("ReadAt(last chunk) = %d, %v", n, err)
	}
}
