package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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
	return storeAt(t, filepath.Join(t.TempDir(), "keyward.db"))
}

// storeAt opens the store at path and adds database "db" with entry "e" at
// path "p".
func storeAt(t *testing.T, path string) (*Store, store.Entry) {
	t.Helper()
	ctx := t.Context()
	s := openTemp(t, path)
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

// distinctChunks makes n chunks of different contents, all of chunkLen
// bytes but the last, which is shorter.
func distinctChunks(n int) [][]byte {
	const chunkLen = 1000
	cs := make([][]byte, n)
	for i := range cs {
		cs[i] = bytes.Repeat(fmt.Appendf(nil, "<%d>", i), chunkLen)[:chunkLen]
	}
	cs[n-1] = cs[n-1][:chunkLen/3+n]
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

// TestChunkStride checks that every chunk but the last must be as long as
// chunk 0, and that a refused chunk leaves the upload usable.
func TestChunkStride(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	for _, c := range []struct {
		name  string
		sizes []int
	}{
		{"longer", []int{100, 100, 101, 100}},
		{"shorter", []int{100, 99, 100}},
		{"empty first", []int{0, 1, 1}},
	} {
		w, err := s.BeginAttachment(ctx, store.Attachment{ID: "id-" + strings.ReplaceAll(c.name, " ", "-"), EntryID: e.ID, Name: c.name})
		if err != nil {
			t.Fatal(err)
		}
		bad := len(c.sizes) - 1
		for i, n := range c.sizes {
			err := w.WriteChunk(ctx, int64(i), bytes.Repeat([]byte{'x'}, n))
			switch {
			case i < bad && err != nil:
				t.Errorf("%s: WriteChunk(%d) = %v", c.name, i, err)
			case i == bad && (err == nil || !strings.Contains(err.Error(), "must have the length of chunk 0")):
				t.Errorf("%s: WriteChunk(%d) after a chunk of another length = %v, want it refused", c.name, i, err)
			}
		}
		// The chunks before the refused one commit, the odd one last.
		got, err := w.Commit(ctx, store.Attachment{Chunks: int64(bad)})
		if err != nil {
			t.Fatalf("%s: Commit() = %v", c.name, err)
		}
		for i := range bad {
			b, err := s.AttachmentChunk(ctx, got.ID, int64(i))
			if err != nil || len(b) != c.sizes[i] {
				t.Errorf("%s: chunk %d = %d bytes, %v; want %d", c.name, i, len(b), err, c.sizes[i])
			}
		}
	}
}

// TestDamagedFile truncates, extends and removes an attachment's file:
// every read then fails with ErrCorrupt naming the attachment, never with
// other bytes.
func TestDamagedFile(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	cs := distinctChunks(10)
	a := uploadChunks(t, s, e.ID, "a", "n", cs)
	file := filepath.Join(s.dir, "a")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fileDamages(file, orig) {
		if err := c.damage(); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int64{0, 9} {
			_, err := s.AttachmentChunk(ctx, a.ID, i)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "attachment a:") {
				t.Errorf("%s: AttachmentChunk(%d) = %v, want ErrCorrupt naming attachment a", c.name, i, err)
			}
		}
		if err := os.WriteFile(file, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := s.AttachmentChunk(ctx, a.ID, 9); err != nil || !bytes.Equal(b, cs[9]) {
			t.Fatalf("AttachmentChunk(9) after restoring the file = %v", err)
		}
	}
}

// TestPendingAndDeletedInvisible checks that an upload is not readable
// before Commit, and a deleted attachment not after, even by a reader that
// read it before.
func TestPendingAndDeletedInvisible(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	a := uploadChunks(t, s, e.ID, "a", "n", distinctChunks(20))
	bufs := make([][]byte, 8)
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "pending", EntryID: e.ID, Name: "n", KeyVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
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
	if n, err := s.ReadAttachmentChunks(ctx, a.ID, 0, bufs); err != nil || n != 8 {
		t.Fatalf("ReadAttachmentChunks() = %d, %v", n, err)
	}
	if err := s.DeleteAttachment(ctx, e.ID, "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAttachmentChunks(ctx, a.ID, 8, bufs); !errors.Is(err, store.ErrNotFound) {
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

// fileDamage is one way to damage an attachment file of ten 1000-byte
// chunks whose original bytes were orig.
type fileDamage struct {
	name   string
	damage func() error
}

// fileDamages lists the damages the tests of a committed file apply.
func fileDamages(file string, orig []byte) []fileDamage {
	return []fileDamage{
		{"truncated", func() error { return os.Truncate(file, int64(len(orig))-1) }},
		{"truncated to a chunk boundary", func() error { return os.Truncate(file, 9*1000) }},
		{"extended", func() error { return os.WriteFile(file, append(orig, 'x'), 0o600) }},
		{"removed", func() error { return os.Remove(file) }},
	}
}
