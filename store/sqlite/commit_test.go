package sqlite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// TestCommitFailsAfterRename makes the row's insertion fail after the
// rename: the file goes back to .part, nothing is visible, the replaced
// attachment is intact, and Commit can be retried.
func TestCommitFailsAfterRename(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	old := uploadChunks(t, s, e.ID, "old", "n", distinctChunks(2))
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "new", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	cs := distinctChunks(3)
	for i, c := range cs {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	errInjected := errors.New("injected")
	testHookRenamed = func(string) error { return errInjected }
	_, err = w.Commit(ctx, store.Attachment{Chunks: 3})
	testHookRenamed = nil
	if !errors.Is(err, errInjected) {
		t.Fatalf("Commit() = %v, want the injected error", err)
	}
	if got, want := attachmentFiles(t, s), []string{"new.part", "old"}; !slices.Equal(got, want) {
		t.Errorf("files after the failed Commit = %v, want %v", got, want)
	}
	if cur, err := s.Attachment(ctx, e.ID, "n"); err != nil || cur.ID != old.ID {
		t.Errorf("Attachment() after the failed Commit = %+v, %v; want the old one", cur, err)
	}
	if _, err := w.Commit(ctx, store.Attachment{Chunks: 3}); err != nil {
		t.Fatalf("Commit() again = %v", err)
	}
	for i, c := range cs {
		if b, err := s.AttachmentChunk(ctx, "new", int64(i)); err != nil || !bytes.Equal(b, c) {
			t.Errorf("AttachmentChunk(new, %d) = %v", i, err)
		}
	}
	if got, want := attachmentFiles(t, s), []string{"new"}; !slices.Equal(got, want) {
		t.Errorf("files after the Commit = %v, want %v", got, want)
	}
}

// TestAbortRemovesUpload checks that Abort removes the .part file, and that
// an upload removed by a sweep fails at Commit with a clear error.
func TestAbortRemovesUpload(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "a", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteChunk(ctx, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := attachmentFiles(t, s); len(got) != 0 {
		t.Errorf("files after Abort = %v, want none", got)
	}

	w, err = s.BeginAttachment(ctx, store.Attachment{ID: "b", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteChunk(ctx, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	age(t, s, "b.part")
	if err := s.sweep(ctx, time.Now().Add(-abandonAfter)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, store.Attachment{Chunks: 1}); !errors.Is(err, errGone) {
		t.Errorf("Commit() of a swept upload = %v, want %v", err, errGone)
	}
	invisibleIn(t, s, e.ID, "n", "b")
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort() of a swept upload = %v", err)
	}
}

// TestTwoStoresOneDirectory runs two stores, as two processes would, on
// one data directory: one's upload survives the other's Open, each sees
// the other's commits, and a deletion by one is seen by the other's reads.
func TestTwoStoresOneDirectory(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	a, e := storeAt(t, path)
	w, err := a.BeginAttachment(ctx, store.Attachment{ID: "up", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	cs := distinctChunks(4)
	for i, c := range cs[:2] {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	b := openTemp(t, path) // sweeps at Open
	for i, c := range cs[2:] {
		if err := w.WriteChunk(ctx, int64(i+2), c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, store.Attachment{Chunks: 4}); err != nil {
		t.Fatalf("Commit() after another store opened = %v", err)
	}
	buf := make([][]byte, 2)
	if n, err := b.ReadAttachmentChunks(ctx, "up", 0, buf); err != nil || n != 2 || !bytes.Equal(buf[1], cs[1]) {
		t.Fatalf("other store: ReadAttachmentChunks() = %d, %v", n, err)
	}
	uploadChunks(t, b, e.ID, "up2", "n", distinctChunks(2)) // replaces "up"
	if _, err := a.ReadAttachmentChunks(ctx, "up", 2, buf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadAttachmentChunks() of an attachment the other store replaced = %v, want ErrNotFound", err)
	}
	if got, want := attachmentFiles(t, a), []string{"up2"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestAttachmentFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes on Windows")
	}
	s, e := storeWithEntry(t)
	uploadChunks(t, s, e.ID, "a", "n", distinctChunks(2))
	w, err := s.BeginAttachment(t.Context(), store.Attachment{ID: "b", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(t.Context())
	for name, want := range map[string]os.FileMode{"": 0o700 | os.ModeDir, "a": 0o600, "b.part": 0o600} {
		fi, err := os.Stat(filepath.Join(s.dir, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("mode of attachments/%s = %v, %v; want %v", name, fi.Mode(), err, want)
		}
	}
}
