package storetest

import (
	"errors"
	"testing"

	"github.com/keyward/keyward/store"
)

// withEntry creates a database and one entry in it.
func withEntry(t *testing.T, s store.Store) (store.Database, store.Entry) {
	db := newDB(t, s, "files")
	return db, put(t, s, newEntry(db, "with/files"), 0)
}

func attachment(e store.Entry, id, name string) store.Attachment {
	return store.Attachment{ID: id, EntryID: e.ID, Name: name, KeyVersion: 1, Header: []byte("header of " + id)}
}

// invisible fails the test if attachment a (or chunk 0 of it) can be read.
func invisible(t *testing.T, s store.Store, a store.Attachment, when string) {
	t.Helper()
	ctx := t.Context()
	if got, err := s.Attachment(ctx, a.EntryID, a.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: Attachment() = %+v, %v; want ErrNotFound", when, got, err)
	}
	if _, err := s.AttachmentChunk(ctx, a.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: AttachmentChunk(0) = %v, want ErrNotFound", when, err)
	}
}

func testAttachmentCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	a := attachment(e, "att-1", "doc.pdf")
	w, err := s.BeginAttachment(ctx, a)
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	cs := chunks("c", 40, 64<<10+16) // several batches, if a backend batches
	for i, c := range cs {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatalf("WriteChunk(%d) = %v", i, err)
		}
	}
	invisible(t, s, a, "before Commit")
	if list, _ := s.Attachments(ctx, e.ID); len(list) != 0 {
		t.Errorf("Attachments() before Commit = %d, want none", len(list))
	}
	final := a
	final.Size, final.Chunks = 40<<16, 40
	got, err := w.Commit(ctx, final)
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	checkUTC(t, "Commit().Created", got.Created)
	checkRecent(t, "Commit().Created", got.Created)
	final.Created = got.Created
	diff(t, "Commit()", got, final)
	stored, err := s.Attachment(ctx, e.ID, a.Name)
	if err != nil {
		t.Fatalf("Attachment() = %v", err)
	}
	diff(t, "Attachment()", stored, got)
	list, _ := s.Attachments(ctx, e.ID)
	diff(t, "Attachments()", list, []store.Attachment{got})
	sameChunks(t, "chunks", readChunks(t, s, got), cs)
	for _, i := range []int64{40, -1} {
		if _, err := s.AttachmentChunk(ctx, a.ID, i); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AttachmentChunk(%d) = %v, want ErrNotFound", i, err)
		}
	}

	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort() after Commit = %v, want nil", err)
	}
	if _, err := s.Attachment(ctx, e.ID, a.Name); err != nil {
		t.Errorf("Attachment() after Abort-after-Commit = %v", err)
	}
	if err := w.WriteChunk(ctx, 40, []byte("late")); err == nil {
		t.Errorf("WriteChunk() after Commit = nil, want an error")
	}
	if _, err := s.BeginAttachment(ctx, attachment(store.Entry{ID: "no-such-entry"}, "att-2", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BeginAttachment(unknown entry) = %v, want ErrNotFound", err)
	}
}

func testAttachmentAbort(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	a := attachment(e, "att-1", "draft.txt")
	w, err := s.BeginAttachment(ctx, a)
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	for i, c := range chunks("d", 20, 1000) {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatalf("WriteChunk(%d) = %v", i, err)
		}
	}
	for i := range 2 {
		if err := w.Abort(ctx); err != nil {
			t.Fatalf("Abort() #%d = %v", i+1, err)
		}
	}
	invisible(t, s, a, "after Abort")
	final := a
	final.Chunks = 20
	if _, err := w.Commit(ctx, final); err == nil {
		t.Errorf("Commit() after Abort = nil, want an error")
	}
	invisible(t, s, a, "after Commit-after-Abort")
	if list, _ := s.Attachments(ctx, e.ID); len(list) != 0 {
		t.Errorf("Attachments() after Abort = %d, want none", len(list))
	}
	again := upload(t, s, attachment(e, "att-2", "draft.txt"), chunks("e", 1, 10))
	diff(t, "Attachments() after a new upload", mustAttachments(t, s, e.ID), []store.Attachment{again})
}

func testAttachmentReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	old := upload(t, s, attachment(e, "att-old", "report"), chunks("old", 3, 100))
	next := attachment(e, "att-new", "report")
	next.KeyVersion = 2
	w, err := s.BeginAttachment(ctx, next)
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	cs := chunks("new", 2, 50)
	for i, c := range cs {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatalf("WriteChunk(%d) = %v", i, err)
		}
	}
	cur, _ := s.Attachment(ctx, e.ID, "report")
	diff(t, "Attachment() while the replacement is pending", cur, old)
	sameChunks(t, "old chunks while the replacement is pending", readChunks(t, s, old), chunks("old", 3, 100))

	next.Size, next.Chunks = 100, 2
	got, err := w.Commit(ctx, next)
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	cur, _ = s.Attachment(ctx, e.ID, "report")
	diff(t, "Attachment() after replacement", cur, got)
	diff(t, "Attachments() after replacement", mustAttachments(t, s, e.ID), []store.Attachment{got})
	sameChunks(t, "new chunks", readChunks(t, s, got), cs)
	if _, err := s.AttachmentChunk(ctx, old.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttachmentChunk(replaced, 0) = %v, want ErrNotFound", err)
	}
}

func testAttachmentMissingChunk(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	old := upload(t, s, attachment(e, "att-old", "data.bin"), chunks("old", 2, 100))
	next := attachment(e, "att-new", "data.bin")
	w, err := s.BeginAttachment(ctx, next)
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	for i, c := range chunks("new", 2, 100) {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatalf("WriteChunk(%d) = %v", i, err)
		}
	}
	next.Size, next.Chunks = 300, 3 // chunk 2 never written
	if _, err := w.Commit(ctx, next); err == nil {
		t.Fatalf("Commit() with a missing chunk = nil, want an error")
	}
	cur, err := s.Attachment(ctx, e.ID, "data.bin")
	if err != nil {
		t.Fatalf("Attachment() after a failed Commit = %v", err)
	}
	diff(t, "Attachment() after a failed Commit", cur, old)
	sameChunks(t, "old chunks after a failed Commit", readChunks(t, s, old), chunks("old", 2, 100))
	invisible(t, s, attachment(e, next.ID, "not-a-name"), "the failed attachment")
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort() after a failed Commit = %v", err)
	}
	diff(t, "Attachments() after Abort", mustAttachments(t, s, e.ID), []store.Attachment{old})
}

func testAttachmentEntryDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	db, e := withEntry(t, s)
	a := upload(t, s, attachment(e, "att-a", "a"), chunks("a", 3, 10))
	b := upload(t, s, attachment(e, "att-b", "b"), chunks("b", 1, 10))
	if err := s.DeleteEntry(ctx, db.ID, e.Path, store.AnyRevision); err != nil {
		t.Fatalf("DeleteEntry() = %v", err)
	}
	invisible(t, s, a, "after deleting the entry")
	invisible(t, s, b, "after deleting the entry")
	if list, err := s.Attachments(ctx, e.ID); err != nil || len(list) != 0 {
		t.Errorf("Attachments() of a deleted entry = %v, %v; want none", list, err)
	}

	e2 := put(t, s, newEntry(db, "deleted/during/upload"), 0)
	w, err := s.BeginAttachment(ctx, attachment(e2, "att-c", "c"))
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	if err := w.WriteChunk(ctx, 0, []byte("c")); err != nil {
		t.Fatalf("WriteChunk() = %v", err)
	}
	if err := s.DeleteEntry(ctx, db.ID, e2.Path, store.AnyRevision); err != nil {
		t.Fatalf("DeleteEntry() = %v", err)
	}
	final := attachment(e2, "att-c", "c")
	final.Chunks = 1
	if _, err := w.Commit(ctx, final); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Commit() after the entry was deleted = %v, want ErrNotFound", err)
	}
	_ = w.Abort(ctx)
}

func testDeleteAttachment(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, e := withEntry(t, s)
	var made []store.Attachment
	for _, name := range []string{"b.txt", "a.txt", "c.txt"} {
		made = append(made, upload(t, s, attachment(e, "att-"+name, name), chunks(name, 2, 10)))
	}
	b, a, c := made[0], made[1], made[2]
	diff(t, "Attachments() (by name)", mustAttachments(t, s, e.ID), []store.Attachment{a, b, c})
	if err := s.DeleteAttachment(ctx, e.ID, "b.txt"); err != nil {
		t.Fatalf("DeleteAttachment() = %v", err)
	}
	diff(t, "Attachments() after delete", mustAttachments(t, s, e.ID), []store.Attachment{a, c})
	invisible(t, s, b, "after DeleteAttachment")
	for _, name := range []string{"b.txt", "nope"} {
		if err := s.DeleteAttachment(ctx, e.ID, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteAttachment(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func mustAttachments(t *testing.T, s store.Store, entryID string) []store.Attachment {
	t.Helper()
	list, err := s.Attachments(t.Context(), entryID)
	if err != nil {
		t.Fatalf("Attachments() = %v", err)
	}
	return list
}
