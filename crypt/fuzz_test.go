package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"

	"github.com/keyward/keyward/secret"
)

// The fuzz targets are seeded from the published vectors; their seed
// corpus runs with every plain `go test`.

func FuzzOpenRecord(f *testing.F) {
	vecs := loadRecordVectors(f)
	type opener struct {
		v    recordVector
		open func([]byte) ([]byte, error)
		seal func(uint32, []byte) []byte
	}
	var ops []opener
	for _, v := range vecs {
		aead := testAEAD(f, testKey(f, v.Key))
		c := v.Context.ctx()
		ops = append(ops, opener{v,
			func(b []byte) ([]byte, error) { return OpenRecord(aead, c, b) },
			func(ver uint32, p []byte) []byte { return SealRecord(aead, ver, c, p) }})
		f.Add([]byte(v.Ciphertext))
		f.Add([]byte(v.Ciphertext[:len(v.Ciphertext)-1]))
		f.Add([]byte(v.Plaintext))
	}
	f.Add([]byte{})
	f.Add([]byte{RecordFormat})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range ops {
			pt, err := o.open(data)
			switch {
			case err == nil && !bytes.Equal(data, o.v.Ciphertext):
				t.Fatalf("OpenRecord accepted a forgery: %x", data)
			case err == nil && !bytes.Equal(pt, o.v.Plaintext):
				t.Fatalf("OpenRecord(vector %q) = %x, want %x", o.v.Name, pt, o.v.Plaintext)
			case err != nil && !isAuthOrFormat(err):
				t.Fatalf("OpenRecord = %v, want ErrAuth or ErrFormat", err)
			}
		}
		// Round trip with the input as plaintext.
		ver := uint32(len(data)) * 2654435761
		ct := ops[0].seal(ver, data)
		got, err := ops[0].open(ct)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("OpenRecord(SealRecord(%x)) = %x, %v", data, got, err)
		}
		if v, err := RecordKeyVersion(ct); v != ver || err != nil {
			t.Fatalf("RecordKeyVersion = %d, %v, want %d", v, err, ver)
		}
	})
}

func FuzzUnwrapKey(f *testing.F) {
	vecs := loadWrapVectors(f)
	keks := make([]*secret.Key, len(vecs))
	for i, v := range vecs {
		keks[i] = testKey(f, v.KEK)
		f.Add([]byte(v.Blob), []byte(v.AD))
		f.Add([]byte(v.Blob[:len(v.Blob)-1]), []byte(v.AD))
		f.Add([]byte(v.Key), []byte(nil))
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		for i, v := range vecs {
			k, err := UnwrapKey(keks[i], data, ad)
			if err == nil {
				// Vectors may share a KEK: the blob must be one of those.
				known := false
				for _, w := range vecs {
					known = known || bytes.Equal(w.KEK, v.KEK) && bytes.Equal(data, w.Blob) &&
						bytes.Equal(ad, w.AD) && bytes.Equal(k.UnsafeBytes(), w.Key)
				}
				k.Wipe()
				if !known {
					t.Fatalf("UnwrapKey accepted a forgery: %x with ad %x", data, ad)
				}
			} else if !isAuthOrFormat(err) {
				t.Fatalf("UnwrapKey = %v, want ErrAuth or ErrFormat", err)
			}
		}
		if len(data) == 0 {
			return
		}
		// Round trip with the input as the key to wrap.
		key := secret.New(data)
		defer key.Wipe()
		blob, err := WrapKey(keks[0], key, ad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnwrapKey(keks[0], blob, ad)
		if err != nil {
			t.Fatalf("UnwrapKey(WrapKey(%d bytes)) = %v", len(data), err)
		}
		defer got.Wipe()
		if !got.Equal(key) {
			t.Fatal("UnwrapKey(WrapKey(key)) != key")
		}
	})
}

// FuzzStreamReader checks three properties: arbitrary bytes opened as a
// stream never panic and never authenticate unless they are a published
// vector; edits described by data (flipped bytes, truncation, appended
// bytes, moved chunks) to a valid three-chunk stream are always detected;
// and data plus extra filler bytes round-trip through Writer and Reader.
// Inputs stay small so that the fuzzer can minimise them; the size comes
// from extra and from the fixed base stream.
func FuzzStreamReader(f *testing.F) {
	sf := newStreamFuzz(f)
	for _, v := range sf.vecs {
		if v.Ciphertext != nil {
			f.Add([]byte(v.Ciphertext), uint32(0))
			f.Add([]byte(v.Ciphertext[:len(v.Ciphertext)-1]), uint32(v.PlaintextLen))
		}
	}
	for _, n := range []uint32{ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + 5} {
		f.Add([]byte{}, n)
	}
	f.Add([]byte{0, 0, 0, 0, 40, 1, 0, 1, 0, 0}, uint32(7)) // flip a byte, truncate
	f.Add([]byte{3, 0, 0, 0, 1, 2, 0, 0, 0, 16}, uint32(9)) // swap chunks, append
	f.Fuzz(func(t *testing.T, data []byte, extra uint32) { sf.check(t, data, extra) })
}

// streamFuzz holds what FuzzStreamReader needs across inputs.
type streamFuzz struct {
	vecs           []streamVector
	keys           []*secret.Key // one per distinct (DEK, Context) of vecs
	ctxs           []Context
	filler, basePT []byte
	base           []byte // a valid stream of basePT, three chunks
	edit           []byte // scratch for editStream; inputs run one at a time
}

func newStreamFuzz(tb testing.TB) *streamFuzz {
	sf := &streamFuzz{vecs: loadStreamVectors(tb)}
	seen := map[string]bool{}
	for _, v := range sf.vecs {
		id := string(v.DEK) + string(v.Context.ctx().AD())
		if !seen[id] {
			seen[id] = true
			sf.keys = append(sf.keys, testKey(tb, v.DEK))
			sf.ctxs = append(sf.ctxs, v.Context.ctx())
		}
	}
	sf.filler = pattern(2 * ChunkSize)
	sf.basePT = pattern(2*ChunkSize + 5)
	sf.base = sealStream(tb, streamDEK, 1, testCtx, fixed(0x55, streamSaltSize), sf.basePT)
	return sf
}

func (sf *streamFuzz) check(t testing.TB, data []byte, extra uint32) {
	for i, k := range sf.keys {
		pt, err := openStream(k, sf.ctxs[i], data)
		if err == nil {
			sum, known := sha256.Sum256(data), false
			for _, w := range sf.vecs {
				known = known || bytes.Equal(w.DEK, k.UnsafeBytes()) && w.Context.ctx() == sf.ctxs[i] &&
					bytes.Equal(sum[:], w.CiphertextSHA256) && bytes.Equal(pt, w.plaintext())
			}
			if !known {
				t.Fatalf("stream of %d bytes accepted as a forgery", len(data))
			}
		} else if !isAuthOrFormat(err) {
			t.Fatalf("openStream = %v, want ErrAuth or ErrFormat", err)
		}
	}
	edited := editStream(sf.edit[:0], sf.base, data)
	sf.edit = edited[:0]
	got, err := openStream(streamDEK, testCtx, edited)
	switch {
	case bytes.Equal(edited, sf.base):
		if err != nil || !bytes.Equal(got, sf.basePT) {
			t.Fatalf("unedited base stream: %d bytes, %v", len(got), err)
		}
	case !isAuthOrFormat(err):
		t.Fatalf("edited stream (%x) opened: %d bytes, %v", data, len(got), err)
	case len(got)%ChunkSize != 0 || !bytes.HasPrefix(sf.basePT, got):
		t.Fatalf("edited stream (%x) leaked %d bytes that are not whole chunks", data, len(got))
	}
	roundTrip(t, append(bytes.Clone(data), sf.filler[:extra%uint32(len(sf.filler)+1)]...), extra)
}

// editStream appends to dst a copy of a stream of whole chunks with the
// edits data describes. Each edit is 5 bytes: an opcode and a uint32
// argument.
func editStream(dst, base, data []byte) []byte {
	out := append(dst, base...)
	for ; len(data) >= 5 && len(out) > 0; data = data[5:] {
		arg := int(binary.BigEndian.Uint32(data[1:5]))
		chunks := (len(out) - StreamHeaderSize + fullChunk - 1) / fullChunk
		switch data[0] % 4 {
		case 0: // flip bits of one byte
			out[arg%len(out)] ^= data[0] | 1
		case 1: // truncate
			out = out[:arg%len(out)]
		case 2: // append bytes
			out = append(out, make([]byte, arg%(2*fullChunk))...)
		case 3: // copy chunk i over chunk j
			if chunks > 1 {
				i, j := arg%chunks, arg/chunks%chunks
				copy(out[StreamHeaderSize+j*fullChunk:], bytes.Clone(chunkAt(out, i)))
			}
		}
	}
	return out
}

// roundTrip writes pt through Writer and reads it back through Reader.
func roundTrip(t testing.TB, pt []byte, extra uint32) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, streamDEK, extra, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ct := buf.Bytes()
	r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
	if err != nil {
		t.Fatalf("NewReader(round trip of %d bytes) = %v", len(pt), err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pt) || r.Size() != int64(len(pt)) {
		t.Fatalf("round trip of %d bytes: got %d bytes, %v", len(pt), len(got), err)
	}
	if len(pt) > 0 {
		off := int(extra) % len(pt)
		p := make([]byte, min(len(pt)-off, ChunkSize+3))
		if n, err := r.ReadAt(p, int64(off)); n != len(p) || err != nil || !bytes.Equal(p, pt[off:][:n]) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
		}
	}
}
