package storetest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/keyward/keyward/store"
)

// testAttachmentBatches checks store.ChunkBatchWriter, for backends whose
// attachment writers implement it.
func testAttachmentBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	a := attachment(e, "att-batch", "batched.bin")
	w, err := s.BeginAttachment(ctx, a)
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	defer w.Abort(ctx)
	bw, ok := w.(store.ChunkBatchWriter)
	if !ok {
		t.Skip("the backend's attachment writer does not take batches")
	}
	const chunkLen = 1000
	cs := chunks("b", 35, chunkLen)
	cs[34] = cs[34][:123] // the last chunk is shorter
	batch := func(first, n int) []byte { return bytes.Join(cs[first:first+n], nil) }
	if err := bw.WriteChunks(ctx, 1, batch(1, 16), chunkLen); err == nil {
		t.Error("WriteChunks() not starting at chunk 0 = nil")
	}
	if err := bw.WriteChunks(ctx, 0, batch(0, 16), chunkLen); err != nil {
		t.Fatalf("WriteChunks(0) = %v", err)
	}
	if err := bw.WriteChunks(ctx, 16, batch(16, 16), chunkLen-1); err == nil {
		t.Error("WriteChunks() with another chunk length = nil")
	}
	// After a refused batch the same chunks are still wanted.
	if err := bw.WriteChunks(ctx, 16, batch(16, 16), chunkLen); err != nil {
		t.Fatalf("WriteChunks(16) = %v", err)
	}
	if err := w.WriteChunk(ctx, 32, cs[32]); err != nil { // both ways mix
		t.Fatalf("WriteChunk(32) = %v", err)
	}
	if err := bw.WriteChunks(ctx, 33, batch(33, 2), chunkLen); err != nil {
		t.Fatalf("WriteChunks(33) = %v", err)
	}
	if err := bw.WriteChunks(ctx, 35, cs[0], chunkLen); err == nil {
		t.Error("WriteChunks() after a short last chunk = nil")
	}
	for _, c := range cs {
		a.Size += int64(len(c))
	}
	a.Chunks = int64(len(cs))
	got, err := w.Commit(ctx, a)
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	sameChunks(t, "batched upload", readChunks(t, s, got), cs)
}

// testChunkStream checks store.ChunkStreamOpener, for backends that
// implement it.
func testChunkStream(t *testing.T, s store.Store) {
	op, ok := s.(store.ChunkStreamOpener)
	if !ok {
		t.Skip("the backend does not open chunk streams")
	}
	ctx := t.Context()
	_, e := withEntry(t, s)
	cs := chunks("s", 20, 64<<10+16)
	cs[19] = cs[19][:777]
	a := upload(t, s, attachment(e, "att-stream", "stream.bin"), cs)
	all := bytes.Join(cs, nil)
	st, err := op.OpenChunkStream(ctx, a.ID)
	if err != nil {
		t.Fatalf("OpenChunkStream() = %v", err)
	}
	defer st.Close()
	if st.Size() != int64(len(all)) {
		t.Fatalf("Size() = %d, want %d", st.Size(), len(all))
	}
	p := make([]byte, len(all))
	if n, err := st.ReadAt(p, 0); n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, all) {
		t.Fatalf("ReadAt(all) = %d, %v; wrong bytes", n, err)
	}
	p = p[:100]
	if n, err := st.ReadAt(p, 3*(64<<10+16)-50); n != 100 || err != nil || !bytes.Equal(p, all[3*(64<<10+16)-50:][:100]) {
		t.Errorf("ReadAt across a chunk boundary = %d, %v", n, err)
	}
	if n, err := st.ReadAt(p, int64(len(all)-40)); n != 40 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 40, io.EOF", n, err)
	}
	if _, err := op.OpenChunkStream(ctx, "no-such-attachment"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenChunkStream(unknown id) = %v, want ErrNotFound", err)
	}
	w, err := s.BeginAttachment(ctx, attachment(e, "att-pending", "pending.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	if err := w.WriteChunk(ctx, 0, cs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := op.OpenChunkStream(ctx, "att-pending"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenChunkStream(pending upload) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAttachment(ctx, e.ID, a.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := op.OpenChunkStream(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenChunkStream(deleted) = %v, want ErrNotFound", err)
	}
	// A stream opened before may fail now, or read the old bytes; never
	// other bytes.
	p = p[:100]
	if n, err := st.ReadAt(p, 5000); err == nil && (n != 100 || !bytes.Equal(p, all[5000:5100])) {
		t.Errorf("ReadAt of a stream whose attachment was deleted = %d bytes, not the old ones", n)
	}
}
