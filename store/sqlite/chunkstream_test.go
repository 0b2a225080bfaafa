package sqlite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
)

// Tests of the optional bulk methods: WriteChunks (store.ChunkBatchWriter)
// and OpenChunkStream (store.ChunkStreamOpener).

// beginBatch starts an upload and returns its writer's batch method.
func beginBatch(t *testing.T, s *Store, entryID, id, name string) (store.AttachmentWriter, store.ChunkBatchWriter) {
	t.Helper()
	w, err := s.BeginAttachment(t.Context(), store.Attachment{ID: id, EntryID: entryID, Name: name, KeyVersion: 1, Header: []byte("h")})
	if err != nil {
		t.Fatal(err)
	}
	bw, ok := w.(store.ChunkBatchWriter)
	if !ok {
		t.Fatal("the SQLite attachment writer does not implement store.ChunkBatchWriter")
	}
	return w, bw
}

// pattern returns n bytes that differ from those of other seeds.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
	}
	return b
}

// readStream opens an attachment's chunk stream and reads it whole.
func readStream(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	cs, err := s.OpenChunkStream(t.Context(), id)
	if err != nil {
		t.Fatalf("OpenChunkStream(%s) = %v", id, err)
	}
	defer cs.Close()
	b := make([]byte, cs.Size())
	if n, err := cs.ReadAt(b, 0); n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("reading the stream of %s: %d of %d bytes, %v", id, n, len(b), err)
	}
	return b
}

// TestWriteChunksRules checks WriteChunks against WriteChunk's rules, and
// that a refused or failed batch leaves the upload as it was.
func TestWriteChunksRules(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	w, bw := beginBatch(t, s, e.ID, "a", "n")
	var want []byte
	accept := func(first int64, data []byte, chunkLen int) {
		t.Helper()
		if err := bw.WriteChunks(ctx, first, data, chunkLen); err != nil {
			t.Fatalf("WriteChunks(%d, %d bytes, %d) = %v", first, len(data), chunkLen, err)
		}
		want = append(want, data...)
	}
	refuse := func(what string, first int64, data []byte, chunkLen int, msg string) {
		t.Helper()
		err := bw.WriteChunks(ctx, first, data, chunkLen)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: WriteChunks(%d, %d bytes, %d) = %v, want an error containing %q", what, first, len(data), chunkLen, err, msg)
		}
	}
	refuse("out of order", 1, pattern(1, 300), 100, "must come in order, want 0")
	refuse("empty batch", 0, nil, 100, "at least one byte")
	refuse("zero chunk length", 0, pattern(1, 300), 0, "positive chunk length")
	accept(0, pattern(1, 300), 100) // chunks 0-2, stride 100
	refuse("gap", 4, pattern(2, 200), 100, "want 3")
	refuse("repeated", 2, pattern(2, 200), 100, "want 3")
	refuse("wrong chunk length", 3, pattern(2, 270), 90, "not 100 like chunk 0")
	refuse("longer chunks", 3, pattern(2, 330), 110, "not 100 like chunk 0")
	// WriteChunk's buffered chunks go to the file before a batch.
	if err := w.WriteChunk(ctx, 3, pattern(3, 100)); err != nil {
		t.Fatal(err)
	}
	want = append(want, pattern(3, 100)...)
	accept(4, pattern(4, 1600), 100) // chunks 4-19
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := bw.WriteChunks(cancelled, 20, pattern(5, 100), 100); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteChunks with a cancelled context = %v", err)
	}

	// A failing write: nothing of the batch is accepted, and the same
	// batch can be written again.
	wr := w.(*writer)
	good := wr.f
	ro, err := os.Open(wr.part)
	if err != nil {
		t.Fatal(err)
	}
	wr.f = ro
	if err := bw.WriteChunks(ctx, 20, pattern(6, 250), 100); err == nil {
		t.Error("WriteChunks on a file that cannot be written = nil")
	}
	wr.f = good
	ro.Close()
	if wr.next != 20 || wr.off != 2000 {
		t.Errorf("after a failed batch: next chunk %d at %d, want 20 at 2000", wr.next, wr.off)
	}
	accept(20, pattern(6, 250), 100) // chunks 20-22, the last of 50 bytes
	refuse("after an odd last chunk", 23, pattern(7, 100), 100, "had to be the last")
	if err := w.WriteChunk(ctx, 23, pattern(7, 100)); err == nil {
		t.Error("WriteChunk after an odd last chunk = nil")
	}
	if _, err := w.Commit(ctx, store.Attachment{Chunks: 22}); err == nil {
		t.Error("Commit with a wrong chunk count = nil")
	}
	a, err := w.Commit(ctx, store.Attachment{Chunks: 23, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	refuse("after Commit", 23, pattern(7, 100), 100, "committed or aborted")
	if got := readStream(t, s, a.ID); !bytes.Equal(got, want) {
		t.Errorf("the stream of what was written: %d bytes, want %d", len(got), len(want))
	}
	for _, i := range []int64{0, 3, 4, 19, 22} {
		b, err := s.AttachmentChunk(ctx, a.ID, i)
		end := min(i*100+100, int64(len(want)))
		if err != nil || !bytes.Equal(b, want[i*100:end]) {
			t.Errorf("AttachmentChunk(%d) = %d bytes, %v", i, len(b), err)
		}
	}
}

// TestWriteChunksShapes covers batches of one chunk, a first batch shorter
// than its chunk length and a longer single last chunk, as WriteChunk
// allows them.
func TestWriteChunksShapes(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	for _, c := range []struct {
		name    string
		batches [][2]int // bytes, chunk length
		chunks  int64
	}{
		{"one short chunk", [][2]int{{40, 100}}, 1},
		{"single chunks", [][2]int{{100, 100}, {100, 100}, {30, 100}}, 3},
		{"whole batches", [][2]int{{300, 100}, {300, 100}}, 6},
		{"longer last chunk", [][2]int{{100, 100}, {150, 150}}, 2},
	} {
		id := strings.ReplaceAll(c.name, " ", "-")
		w, bw := beginBatch(t, s, e.ID, id, c.name)
		var want []byte
		var next int64
		for i, b := range c.batches {
			data := pattern(byte(i), b[0])
			if err := bw.WriteChunks(ctx, next, data, b[1]); err != nil {
				t.Fatalf("%s: batch %d: %v", c.name, i, err)
			}
			want = append(want, data...)
			next += int64((b[0] + b[1] - 1) / b[1])
		}
		a, err := w.Commit(ctx, store.Attachment{Chunks: c.chunks})
		if err != nil {
			t.Fatalf("%s: Commit() = %v", c.name, err)
		}
		if got := readStream(t, s, a.ID); !bytes.Equal(got, want) {
			t.Errorf("%s: stream of %d bytes, want %d", c.name, len(got), len(want))
		}
	}
}

func TestOpenChunkStream(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	cs := distinctChunks(10)
	a := uploadChunks(t, s, e.ID, "a", "n", cs)
	all := bytes.Join(cs, nil)
	st, err := s.OpenChunkStream(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(len(all)) {
		t.Fatalf("Size() = %d, want %d", st.Size(), len(all))
	}
	for _, r := range []struct{ off, n int }{{0, 1000}, {999, 2}, {3500, 4000}, {len(all) - 5, 5}} {
		p := make([]byte, r.n)
		if n, err := st.ReadAt(p, int64(r.off)); n != r.n || err != nil || !bytes.Equal(p, all[r.off:r.off+r.n]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v", r.n, r.off, n, err)
		}
	}
	p := make([]byte, 100)
	if n, err := st.ReadAt(p, int64(len(all)-10)); n != 10 || err != io.EOF || !bytes.Equal(p[:n], all[len(all)-10:]) {
		t.Errorf("ReadAt across the end = %d, %v; want 10, io.EOF", n, err)
	}
	if n, err := st.ReadAt(p, int64(len(all))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}

	// Replaced and then deleted while open: the stream reads the old file.
	uploadChunks(t, s, e.ID, "b", "n", distinctChunks(3))
	if _, err := s.OpenChunkStream(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenChunkStream(replaced) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAttachment(ctx, e.ID, "n"); err != nil {
		t.Fatal(err)
	}
	p = make([]byte, len(all))
	if n, err := st.ReadAt(p, 0); n != len(all) || err != nil || !bytes.Equal(p, all) {
		t.Errorf("ReadAt after the attachment was replaced and deleted = %d, %v; want the old bytes", n, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadAt(p[:10], 0); err == nil || errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ReadAt after Close = %v, want an error other than ErrCorrupt", err)
	}
	for _, id := range []string{a.ID, "b", "no-such-id"} {
		if _, err := s.OpenChunkStream(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OpenChunkStream(%s) after delete = %v, want ErrNotFound", id, err)
		}
	}
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "pending", EntryID: e.ID, Name: "p", KeyVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	if err := w.WriteChunk(ctx, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenChunkStream(ctx, "pending"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenChunkStream(pending upload) = %v, want ErrNotFound", err)
	}
}

// TestOpenChunkStreamDamaged checks that a file of another size than its
// row records, or missing, is ErrCorrupt when the stream opens, and that a
// file truncated while open fails reads past its new end with ErrCorrupt.
func TestOpenChunkStreamDamaged(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	cs := distinctChunks(10)
	a := uploadChunks(t, s, e.ID, "a", "n", cs)
	file := filepath.Join(s.dir, "a")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	isDamaged := func(err error) bool {
		return errors.Is(err, store.ErrCorrupt) && strings.Contains(err.Error(), "attachment a:")
	}
	for _, c := range fileDamages(file, orig) {
		if err := c.damage(); err != nil {
			t.Fatal(err)
		}
		if st, err := s.OpenChunkStream(ctx, a.ID); !isDamaged(err) {
			if err == nil {
				st.Close()
			}
			t.Errorf("%s: OpenChunkStream() = %v, want ErrCorrupt naming attachment a", c.name, err)
		}
		if err := os.WriteFile(file, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.OpenChunkStream(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := os.Truncate(file, 5000); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1000)
	if n, err := st.ReadAt(p, 4000); n != 1000 || err != nil || !bytes.Equal(p, orig[4000:5000]) {
		t.Errorf("ReadAt before the cut = %d, %v", n, err)
	}
	for _, off := range []int64{4500, 5000, 8000} {
		if n, err := st.ReadAt(p, off); !isDamaged(err) || n > int(max(0, 5000-off)) {
			t.Errorf("ReadAt(%d) in a truncated file = %d, %v; want ErrCorrupt naming attachment a", off, n, err)
		}
	}
}
