package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/store"
)

// uploadChunks stores a committed attachment of the given chunks.
func uploadChunks(t *testing.T, s *Store, entryID, id, name string, cs [][]byte) store.Attachment {
	t.Helper()
	ctx := t.Context()
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: id, EntryID: entryID, Name: name, KeyVersion: 1, Header: []byte("h")})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := w.Commit(ctx, store.Attachment{Chunks: int64(len(cs))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// storeWithEntry opens a store with one database and one entry.
func storeWithEntry(t *testing.T) (*Store, store.Entry) {
	t.Helper()
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	if err := s.CreateDatabase(ctx, store.Database{ID: "db", Name: "db"},
		store.DataKey{Version: 1, State: store.KeyPrimary}); err != nil {
		t.Fatal(err)
	}
	e, err := s.PutEntry(ctx, store.Entry{ID: "e", DatabaseID: "db", Path: "p"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, e
}

// distinctChunks makes n chunks of different contents and sizes.
func distinctChunks(n int) [][]byte {
	cs := make([][]byte, n)
	for i := range cs {
		cs[i] = bytes.Repeat(fmt.Appendf(nil, "<%d>", i), 100+i*37)
	}
	return cs
}

func TestReadAttachmentChunks(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	cs := distinctChunks(30)
	a := uploadChunks(t, s, e.ID, "a", "n", cs)
	uploadChunks(t, s, e.ID, "b", "other", distinctChunks(5)) // must not leak in

	bufs := make([][]byte, MaxChunksPerRead)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		first := rng.Int64N(int64(len(cs)))
		want := 1 + rng.IntN(MaxChunksPerRead)
		n, err := s.ReadAttachmentChunks(ctx, a.ID, first, bufs[:want])
		if err != nil {
			t.Fatalf("ReadAttachmentChunks(%d, %d) = %v", first, want, err)
		}
		if exp := min(want, len(cs)-int(first)); n != exp {
			t.Fatalf("ReadAttachmentChunks(%d, %d) read %d chunks, want %d", first, want, n, exp)
		}
		for i := range n {
			if !bytes.Equal(bufs[i], cs[first+int64(i)]) {
				t.Fatalf("ReadAttachmentChunks(%d, %d): chunk %d differs", first, want, first+int64(i))
			}
		}
	}

	// Buffers with room are filled in place.
	buf := make([]byte, 0, 1<<12)
	dst := [][]byte{buf}
	if _, err := s.ReadAttachmentChunks(ctx, a.ID, 3, dst); err != nil {
		t.Fatal(err)
	}
	if &dst[0][0] != &buf[:1][0] || !bytes.Equal(dst[0], cs[3]) {
		t.Errorf("a buffer with enough capacity was not reused")
	}

	for _, first := range []int64{-1, 30, 31, math.MaxInt64} {
		if _, err := s.ReadAttachmentChunks(ctx, a.ID, first, bufs[:8]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadAttachmentChunks(first %d) = %v, want ErrNotFound", first, err)
		}
	}
	for _, n := range []int{0, MaxChunksPerRead + 1} {
		if _, err := s.ReadAttachmentChunks(ctx, a.ID, 0, make([][]byte, n)); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadAttachmentChunks(%d buffers) = %v, want an error", n, err)
		}
	}
	if _, err := s.ReadAttachmentChunks(ctx, "no-such-id", 0, bufs[:8]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadAttachmentChunks(unknown id) = %v, want ErrNotFound", err)
	}
}

func TestReadAttachmentChunksGapsAndVisibility(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	cs := distinctChunks(20)
	a := uploadChunks(t, s, e.ID, "a", "n", cs)
	if _, err := s.write.Exec("DELETE FROM attachment_chunks WHERE attachment_id = ? AND idx = 12", a.ID); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 8)
	n, err := s.ReadAttachmentChunks(ctx, a.ID, 8, bufs)
	if err != nil || n != 4 {
		t.Fatalf("ReadAttachmentChunks(8, 8) with chunk 12 missing = %d, %v; want the 4 chunks before the gap", n, err)
	}
	for i := range n {
		if !bytes.Equal(bufs[i], cs[8+i]) {
			t.Errorf("chunk %d differs", 8+i)
		}
	}
	if _, err := s.ReadAttachmentChunks(ctx, a.ID, 12, bufs); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadAttachmentChunks(12) = %v, want ErrNotFound", err)
	}
	if _, err := s.AttachmentChunk(ctx, a.ID, 12); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttachmentChunk(12) = %v, want ErrNotFound", err)
	}
	if n, err := s.ReadAttachmentChunks(ctx, a.ID, 13, bufs); err != nil || n != 7 {
		t.Errorf("ReadAttachmentChunks(13) = %d, %v; want 7 chunks", n, err)
	}

	// Pending uploads are invisible, and so is a deleted attachment.
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "pending", EntryID: e.ID, Name: "n", KeyVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range flushChunks + 1 {
		if err := w.WriteChunk(ctx, int64(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReadAttachmentChunks(ctx, "pending", 0, bufs); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadAttachmentChunks(pending upload) = %v, want ErrNotFound", err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAttachment(ctx, e.ID, "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAttachmentChunks(ctx, a.ID, 0, bufs); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadAttachmentChunks(deleted) = %v, want ErrNotFound", err)
	}
}

func TestAttachmentChunkAfterClose(t *testing.T) {
	s, e := storeWithEntry(t)
	a := uploadChunks(t, s, e.ID, "a", "n", distinctChunks(2))
	if _, err := s.AttachmentChunk(t.Context(), a.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachmentChunk(t.Context(), a.ID, 0); err == nil {
		t.Errorf("AttachmentChunk() after Close = nil, want an error")
	}
}

// TestBulkUploadCheckpoints checks that a large upload is checkpointed by
// the checkpointer, leaves the log as small as SQLite's automatic
// checkpoint would, and leaves the writer's automatic checkpoint on.
func TestBulkUploadCheckpoints(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	chunk := bytes.Repeat([]byte{0xa5}, 64<<10+16)
	const n = 24 * flushChunks // 24 MiB in 24 batches
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "big", EntryID: e.ID, Name: "big", KeyVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.WriteChunk(ctx, int64(i), chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, store.Attachment{Chunks: n}); err != nil {
		t.Fatal(err)
	}
	s.ckpt.mu.Lock()
	runs := s.ckpt.runs
	s.ckpt.mu.Unlock()
	if runs == 0 {
		t.Errorf("the checkpointer never ran during a 24 MiB upload")
	}
	// The log file keeps its largest size: it is the high-water mark.
	fi, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// No larger than with SQLite's automatic checkpoint alone: its
	// threshold, plus slack for two batches (a restart may have to wait for
	// a reader). A log that grew with the upload would hold 24 MiB.
	var pageSize int64
	if err := s.read.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if limit := autoCheckpointPages*(pageSize+24) + 2*flushBytes*5/4; fi.Size() > limit {
		t.Errorf("write-ahead log grew to %d bytes during a 24 MiB upload, want at most %d", fi.Size(), limit)
	}
	var auto int
	if err := s.write.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != autoCheckpointPages {
		t.Errorf("writer's wal_autocheckpoint after an upload = %d, %v; want %d", auto, err, autoCheckpointPages)
	}
	bufs := make([][]byte, MaxChunksPerRead)
	for first := int64(0); first < n; first += MaxChunksPerRead {
		k, err := s.ReadAttachmentChunks(ctx, "big", first, bufs)
		if err != nil || k != min(MaxChunksPerRead, n-int(first)) {
			t.Fatalf("ReadAttachmentChunks(%d) = %d, %v", first, k, err)
		}
		for i := range k {
			if !bytes.Equal(bufs[i], chunk) {
				t.Fatalf("chunk %d differs", first+int64(i))
			}
		}
	}
}
