package crypt

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

const fullChunk = ChunkSize + ChunkOverhead

var streamSizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 2*ChunkSize + 5, 3*ChunkSize + 17}

// chunkAt returns the ciphertext of chunk i of a whole stream ct.
func chunkAt(ct []byte, i int) []byte {
	start := StreamHeaderSize + i*fullChunk
	return ct[start:min(start+fullChunk, len(ct))]
}

func TestStreamSizes(t *testing.T) {
	for _, n := range streamSizes {
		if got := EncryptedSize(int64(n)); got != int64(len(sealStream(t, randomKey(t), 1, testCtx, nil, make([]byte, n)))) {
			t.Errorf("EncryptedSize(%d) = %d, does not match a sealed stream", n, got)
		}
	}
	// Every encrypted size either is impossible or maps back exactly.
	valid := 0
	for e := int64(0); e < StreamHeaderSize+3*fullChunk+40; e++ {
		p, err := PlaintextSize(e)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("PlaintextSize(%d) = %v, want ErrFormat", e, err)
			}
			continue
		}
		valid++
		if got := EncryptedSize(p); got != e {
			t.Fatalf("EncryptedSize(PlaintextSize(%d) = %d) = %d", e, p, got)
		}
	}
	if want := 3*ChunkSize + 1 + 23; valid != want {
		t.Errorf("%d valid encrypted sizes in range, want %d", valid, want)
	}
	for _, e := range []int64{
		StreamHeaderSize + fullChunk + ChunkOverhead, // empty last chunk after a full one
		StreamHeaderSize + fullChunk + 5,             // tail shorter than a tag
		EncryptedSize(MaxStreamSize) + fullChunk,     // 2^32+1 chunks
		math.MaxInt64, -1,
	} {
		if _, err := PlaintextSize(e); !errors.Is(err, ErrFormat) {
			t.Errorf("PlaintextSize(%d) = %v, want ErrFormat", e, err)
		}
	}
	if p, err := PlaintextSize(EncryptedSize(MaxStreamSize)); p != MaxStreamSize || err != nil {
		t.Errorf("PlaintextSize(EncryptedSize(MaxStreamSize)) = %d, %v", p, err)
	}
}

func TestSealChunkMisuse(t *testing.T) {
	s, err := NewStreamSealer(randomKey(t), 1, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		n    int
		last bool
	}{
		{"short non-last chunk", ChunkSize - 1, false},
		{"empty non-last chunk", 0, false},
		{"oversized non-last chunk", ChunkSize + 1, false},
		{"oversized last chunk", ChunkSize + 1, true},
	} {
		if _, err := s.SealChunk(nil, make([]byte, tc.n), tc.last); err == nil {
			t.Errorf("SealChunk(%s) succeeded", tc.name)
		}
	}
	if _, err := s.SealChunk(nil, make([]byte, ChunkSize), false); err != nil {
		t.Fatalf("SealChunk(chunk 0) = %v", err)
	}
	if _, err := s.SealChunk(nil, nil, true); err == nil {
		t.Error("SealChunk(empty last chunk at index 1) succeeded")
	}
	if _, err := s.SealChunk(nil, []byte("end"), true); err != nil {
		t.Fatalf("SealChunk(last) = %v", err)
	}
	if _, err := s.SealChunk(nil, []byte("more"), true); err == nil {
		t.Error("SealChunk after the last chunk succeeded")
	}
	s.Close()
	s.Close()
	if _, err := s.SealChunk(nil, []byte("x"), true); err == nil {
		t.Error("SealChunk after Close succeeded")
	}
}

func TestChunkCounterOverflow(t *testing.T) {
	dek := randomKey(t)
	s, err := NewStreamSealer(dek, 1, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.next = maxChunkIndex
	if _, err := s.SealChunk(nil, make([]byte, ChunkSize), false); err == nil {
		t.Fatal("SealChunk(non-last chunk 2^32-1) succeeded: the stream could never end")
	}
	ct, err := s.SealChunk(nil, []byte("final"), true)
	if err != nil {
		t.Fatalf("SealChunk(last chunk 2^32-1) = %v", err)
	}
	o, err := NewStreamOpener(dek, s.Header(), testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if pt, err := o.OpenChunk(nil, maxChunkIndex, ct, true); err != nil || string(pt) != "final" {
		t.Errorf("OpenChunk(2^32-1) = %q, %v", pt, err)
	}
	// The counter must not wrap: index 2^32+i is not index i.
	if _, err := o.OpenChunk(nil, maxChunkIndex+1+maxChunkIndex, ct, true); !errors.Is(err, ErrFormat) {
		t.Errorf("OpenChunk(2^33-1) = %v, want ErrFormat", err)
	}
	s.next = maxChunkIndex + 1
	s.done = false
	if _, err := s.SealChunk(nil, []byte("x"), true); err == nil {
		t.Error("SealChunk(chunk 2^32) succeeded")
	}
}

func TestOpenChunkRules(t *testing.T) {
	dek := randomKey(t)
	pt := randBytes(t, 2*ChunkSize+5)
	ct := sealStream(t, dek, 1, testCtx, nil, pt)
	o, err := NewStreamOpener(dek, ct[:StreamHeaderSize], testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// Random order works.
	for _, i := range []int{2, 0, 1, 0} {
		got, err := o.OpenChunk(nil, uint64(i), chunkAt(ct, i), i == 2)
		if err != nil || !bytes.Equal(got, pt[i*ChunkSize:min((i+1)*ChunkSize, len(pt))]) {
			t.Errorf("OpenChunk(%d) = %d bytes, %v", i, len(got), err)
		}
	}
	for _, tc := range []struct {
		name  string
		index uint64
		ct    []byte
		last  bool
	}{
		{"chunk 0 as last", 0, chunkAt(ct, 0), true},
		{"chunk 2 as not last", 2, chunkAt(ct, 2), false},
		{"chunk 0 at index 1", 1, chunkAt(ct, 0), false},
		{"chunk 1 at index 0", 0, chunkAt(ct, 1), false},
		{"short tag", 2, chunkAt(ct, 2)[:15], true},
		{"nothing", 0, nil, true},
		{"chunk plus a byte", 1, append(bytes.Clone(chunkAt(ct, 1)), 0), true},
		{"empty last chunk at index 1", 1, make([]byte, ChunkOverhead), true},
	} {
		if got, err := o.OpenChunk(nil, tc.index, tc.ct, tc.last); err != ErrAuth || got != nil {
			t.Errorf("OpenChunk(%s) = %d bytes, %v, want ErrAuth", tc.name, len(got), err)
		}
	}
	o.Close()
	if _, err := o.OpenChunk(nil, 0, chunkAt(ct, 0), false); err == nil || isAuthOrFormat(err) {
		t.Errorf("OpenChunk after Close = %v, want a use-after-Close error", err)
	}
}

func TestStreamHeader(t *testing.T) {
	dek := randomKey(t)
	a, _ := NewStreamSealer(dek, 9, testCtx)
	b, _ := NewStreamSealer(dek, 9, testCtx)
	defer a.Close()
	defer b.Close()
	if bytes.Equal(a.Header(), b.Header()) {
		t.Error("two streams share a salt")
	}
	h := a.Header()
	if len(h) != StreamHeaderSize || h[0] != StreamFormat {
		t.Errorf("Header() = %x", h)
	}
	if v, err := StreamKeyVersion(h); v != 9 || err != nil {
		t.Errorf("StreamKeyVersion = %d, %v, want 9", v, err)
	}
	for n := range StreamHeaderSize {
		if _, err := StreamKeyVersion(h[:n]); !errors.Is(err, ErrFormat) {
			t.Errorf("StreamKeyVersion(%d bytes) = %v, want ErrFormat", n, err)
		}
		if _, err := NewStreamOpener(dek, h[:n], testCtx); !errors.Is(err, ErrFormat) {
			t.Errorf("NewStreamOpener(%d-byte header) = %v, want ErrFormat", n, err)
		}
	}
	if _, err := NewStreamOpener(dek, flip(h, 0), testCtx); !errors.Is(err, ErrFormat) {
		t.Errorf("NewStreamOpener(format 0) = %v, want ErrFormat", err)
	}
	if _, err := NewStreamSealer(testKey(t, make([]byte, 16)), 1, testCtx); err == nil {
		t.Error("NewStreamSealer with a 16-byte key succeeded")
	}
	if _, err := NewStreamOpener(nil, h, testCtx); err == nil {
		t.Error("NewStreamOpener with a nil key succeeded")
	}
}

// TestOpenChunkShapeRules seals chunks that break the chunking rules with
// the stream's own key, so they authenticate, and checks that OpenChunk
// still refuses them: the rules are enforced, not left to GCM.
func TestOpenChunkShapeRules(t *testing.T) {
	dek := randomKey(t)
	s, err := NewStreamSealer(dek, 1, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	craft := func(i uint32, n int, last bool) []byte {
		nonce := s.nonce
		setChunkNonce(&nonce, i, last)
		return s.aead.Seal(nil, nonce[:], make([]byte, n), nil)
	}
	o, err := NewStreamOpener(dek, s.Header(), testCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.OpenChunk(nil, 1, craft(1, 10, true), true); err != nil {
		t.Fatalf("OpenChunk(well-formed crafted chunk) = %v; the crafting is wrong", err)
	}
	for _, tc := range []struct {
		name  string
		index uint32
		n     int
		last  bool
	}{
		{"empty last chunk at index 1", 1, 0, true},
		{"short non-last chunk", 0, ChunkSize - 1, false},
		{"empty non-last chunk", 2, 0, false},
		{"oversized last chunk", 0, ChunkSize + 1, true},
		{"oversized non-last chunk", 0, ChunkSize + 1, false},
	} {
		ct := craft(tc.index, tc.n, tc.last)
		if _, err := o.OpenChunk(nil, uint64(tc.index), ct, tc.last); err != ErrAuth {
			t.Errorf("OpenChunk(%s) = %v, want ErrAuth", tc.name, err)
		}
	}
}
