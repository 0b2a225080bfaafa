package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func newJob(t *testing.T, s store.Store, id string) store.Job {
	t.Helper()
	j, err := s.CreateJob(t.Context(), store.Job{ID: id, Kind: "regenerate", State: store.JobRunning,
		Spec: `{"databases":["x"]}`, Cursor: "c0", Counts: "{}"})
	if err != nil {
		t.Fatalf("CreateJob(%q) = %v", id, err)
	}
	return j
}

func testJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := newJob(t, s, "job-1")
	checkUTC(t, "CreateJob().Created", j.Created, j.Updated)
	checkRecent(t, "CreateJob().Created", j.Created)
	if j.Owner != "" || !j.Heartbeat.IsZero() {
		t.Errorf("CreateJob() lease = %q %v, want none", j.Owner, j.Heartbeat)
	}
	if _, err := s.CreateJob(ctx, store.Job{ID: "job-1", Kind: "regenerate", State: store.JobRunning}); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateJob(same id) = %v, want ErrExists", err)
	}
	if _, err := s.CreateJob(ctx, store.Job{ID: "job-x", Kind: "regenerate"}); err == nil {
		t.Errorf("CreateJob(state 0) = nil, want an error")
	}
	got, err := s.Job(ctx, "job-1")
	if err != nil {
		t.Fatalf("Job() = %v", err)
	}
	diff(t, "Job()", got, j)
	if _, err := s.Job(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Job(nope) = %v, want ErrNotFound", err)
	}
	newJob(t, s, "job-2")
	list, err := s.Jobs(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "job-1" || list[1].ID != "job-2" {
		t.Errorf("Jobs() = %+v, %v; want job-1, job-2", list, err)
	}

	p, err := s.SetJobState(ctx, "job-1", []store.JobState{store.JobRunning}, store.JobPaused, "")
	if err != nil || p.State != store.JobPaused {
		t.Fatalf("SetJobState(running→paused) = %+v, %v", p, err)
	}
	if _, err := s.SetJobState(ctx, "job-1", []store.JobState{store.JobRunning}, store.JobDone, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("SetJobState(from running) on a paused job = %v, want ErrConflict", err)
	}
	f, err := s.SetJobState(ctx, "job-1", []store.JobState{store.JobPaused}, store.JobFailed, "3 rows do not decrypt")
	if err != nil || f.State != store.JobFailed || f.Error != "3 rows do not decrypt" {
		t.Errorf("SetJobState(→failed) = %+v, %v", f, err)
	}
	if got, _ := s.Job(ctx, "job-1"); got.State != store.JobFailed || got.Error != "3 rows do not decrypt" {
		t.Errorf("Job() after failing = %+v", got)
	}
	if _, err := s.SetJobState(ctx, "nope", []store.JobState{store.JobRunning}, store.JobDone, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetJobState(nope) = %v, want ErrNotFound", err)
	}
}

func testJobLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	newJob(t, s, "job")
	a := store.JobLease{JobID: "job", Owner: "a"}
	b := store.JobLease{JobID: "job", Owner: "b"}
	j, err := s.AcquireJob(ctx, "job", "a", time.Hour)
	if err != nil || j.Owner != "a" {
		t.Fatalf("AcquireJob(a) = %+v, %v", j, err)
	}
	checkRecent(t, "AcquireJob().Heartbeat", j.Heartbeat)
	if _, err := s.AcquireJob(ctx, "job", "b", time.Hour); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AcquireJob(b) while a's lease is live = %v, want ErrConflict", err)
	}
	if _, err := s.AcquireJob(ctx, "job", "a", time.Hour); err != nil {
		t.Errorf("AcquireJob(a) again = %v", err)
	}
	if err := s.RenewJob(ctx, a); err != nil {
		t.Errorf("RenewJob(a) = %v", err)
	}
	if err := s.SaveJobProgress(ctx, a, store.JobProgress{Cursor: "c1", Counts: "n1"}); err != nil {
		t.Errorf("SaveJobProgress(a) = %v", err)
	}
	// A zero time to live: a's heartbeat is already too old.
	if _, err := s.AcquireJob(ctx, "job", "b", 0); err != nil {
		t.Fatalf("AcquireJob(b) after a's lease expired = %v", err)
	}
	if err := s.SaveJobProgress(ctx, a, store.JobProgress{Cursor: "stale", Counts: "stale"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("SaveJobProgress(a) after the take-over = %v, want ErrLeaseLost", err)
	}
	if err := s.RenewJob(ctx, a); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewJob(a) after the take-over = %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseJob(ctx, a); err != nil {
		t.Errorf("ReleaseJob(a) held by b = %v", err)
	}
	if got, _ := s.Job(ctx, "job"); got.Owner != "b" || got.Cursor != "c1" || got.Counts != "n1" {
		t.Errorf("Job() = owner %q cursor %q counts %q, want b c1 n1", got.Owner, got.Cursor, got.Counts)
	}
	if err := s.ReleaseJob(ctx, b); err != nil {
		t.Errorf("ReleaseJob(b) = %v", err)
	}
	if got, _ := s.Job(ctx, "job"); got.Owner != "" {
		t.Errorf("Job().Owner after release = %q, want none", got.Owner)
	}
	if _, err := s.AcquireJob(ctx, "job", "a", time.Hour); err != nil {
		t.Errorf("AcquireJob(a) after release = %v", err)
	}
	// Paused: progress is refused, and nobody may acquire it.
	if _, err := s.SetJobState(ctx, "job", []store.JobState{store.JobRunning}, store.JobPaused, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveJobProgress(ctx, a, store.JobProgress{Cursor: "c2"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("SaveJobProgress on a paused job = %v, want ErrLeaseLost", err)
	}
	if _, err := s.AcquireJob(ctx, "job", "b", 0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AcquireJob on a paused job = %v, want ErrConflict", err)
	}
	if _, err := s.AcquireJob(ctx, "nope", "b", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AcquireJob(nope) = %v, want ErrNotFound", err)
	}
}

func testRewriteEntries(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "app")
	if err := s.AddDataKey(ctx, dataKey(db.ID, 2, store.KeyPrimary)); err != nil {
		t.Fatal(err)
	}
	e1 := put(t, s, newEntry(db, "a"), 0)
	e2 := put(t, s, newEntry(db, "b"), 0)
	e3 := newEntry(db, "c")
	e3.KeyVersion = 2
	put(t, s, e3, 0)
	below, err := s.EntriesBelow(ctx, db.ID, 2, "", 10)
	if err != nil || len(below) != 2 {
		t.Fatalf("EntriesBelow(2) = %d entries, %v; want a and b", len(below), err)
	}
	if below[0].ID > below[1].ID || string(below[0].Ciphertext) == "" {
		t.Errorf("EntriesBelow() not ordered by id, or without ciphertext: %+v", below)
	}
	if next, _ := s.EntriesBelow(ctx, db.ID, 2, below[0].ID, 10); len(next) != 1 || next[0].ID != below[1].ID {
		t.Errorf("EntriesBelow(after %s) = %+v, want the other one", below[0].ID, next)
	}
	newJob(t, s, "job")
	l := store.JobLease{JobID: "job", Owner: "me"}
	if _, err := s.RewriteEntries(ctx, l, nil, fixed(store.JobProgress{Cursor: "x"})); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RewriteEntries without the lease = %v, want ErrLeaseLost", err)
	}
	if _, err := s.AcquireJob(ctx, "job", "me", time.Hour); err != nil {
		t.Fatal(err)
	}
	// A client writes b meanwhile: the rewrite of b must not apply.
	e2.KeyVersion, e2.Ciphertext = 2, []byte("client's new value")
	e2 = put(t, s, e2, e2.Revision)
	rw := []store.EntryRewrite{
		{ID: e1.ID, Revision: e1.Revision, OldVersion: 1, NewVersion: 2, Ciphertext: []byte("re-encrypted a")},
		{ID: below[1].ID, Revision: 1, OldVersion: 1, NewVersion: 2, Ciphertext: []byte("stale b")},
	}
	if below[1].ID != e2.ID {
		rw[1].ID = e2.ID
	}
	applied, err := s.RewriteEntries(ctx, l, rw, func(applied []bool) store.JobProgress {
		return store.JobProgress{Cursor: "after-b", Counts: fmt.Sprint(applied)}
	})
	if err != nil || len(applied) != 2 || !applied[0] || applied[1] {
		t.Fatalf("RewriteEntries() = %v, %v; want [true false]", applied, err)
	}
	a, _ := s.Entry(ctx, db.ID, "a")
	if a.KeyVersion != 2 || string(a.Ciphertext) != "re-encrypted a" || a.Revision != e1.Revision || !a.Updated.Equal(e1.Updated) {
		t.Errorf("entry a after the rewrite = %+v; want version 2, the new ciphertext, revision and updated unchanged", a)
	}
	b, _ := s.Entry(ctx, db.ID, "b")
	if string(b.Ciphertext) != "client's new value" || b.Revision != e2.Revision {
		t.Errorf("entry b = %q rev %d; the client's write was overwritten", b.Ciphertext, b.Revision)
	}
	if j, _ := s.Job(ctx, "job"); j.Cursor != "after-b" || j.Counts != "[true false]" {
		t.Errorf("job progress = %q %q, want after-b [true false]", j.Cursor, j.Counts)
	}
	// The client's compare-and-swap on a's unchanged revision still works.
	a.Ciphertext = []byte("client writes a")
	if _, err := s.PutEntry(ctx, a, e1.Revision); err != nil {
		t.Errorf("PutEntry(a, revision before the rewrite) = %v", err)
	}
	if left, _ := s.EntriesBelow(ctx, db.ID, 2, "", 10); len(left) != 0 {
		t.Errorf("EntriesBelow(2) after the rewrite = %d, want 0", len(left))
	}
}

func testAttachmentRewrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	db, e := withEntry(t, s)
	if err := s.AddDataKey(ctx, dataKey(db.ID, 2, store.KeyPrimary)); err != nil {
		t.Fatal(err)
	}
	old := upload(t, s, attachment(e, "old", "doc"), chunks("o", 3, 100))
	other := upload(t, s, attachment(e, "other", "img"), chunks("p", 1, 10))
	list, err := s.AttachmentsBelow(ctx, db.ID, 2, "", 10)
	if err != nil || len(list) != 2 || list[0].ID != "old" || list[1].ID != "other" {
		t.Fatalf("AttachmentsBelow() = %+v, %v; want old, other", list, err)
	}
	newJob(t, s, "job")
	l := store.JobLease{JobID: "job", Owner: "me"}
	if _, err := s.AcquireJob(ctx, "job", "me", time.Hour); err != nil {
		t.Fatal(err)
	}
	rewrite := func(oldA store.Attachment, newID string, cs [][]byte) (bool, store.AttachmentWriter) {
		t.Helper()
		na := store.Attachment{ID: newID, EntryID: e.ID, Name: oldA.Name, KeyVersion: 2, Header: []byte("h2")}
		w, err := s.BeginAttachment(ctx, na)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cs {
			if err := w.WriteChunk(ctx, int64(i), c); err != nil {
				t.Fatal(err)
			}
		}
		na.Chunks, na.Size = int64(len(cs)), 1
		ok, err := s.CommitAttachmentRewrite(ctx, l, w, na, oldA.ID, func(swapped bool) store.JobProgress {
			return store.JobProgress{Cursor: oldA.ID, Counts: fmt.Sprint(swapped)}
		})
		if err != nil {
			t.Fatalf("CommitAttachmentRewrite(%s) = %v", oldA.ID, err)
		}
		return ok, w
	}
	newCS := chunks("n", 3, 100)
	if ok, _ := rewrite(old, "new", newCS); !ok {
		t.Fatalf("CommitAttachmentRewrite(old) = false, want swapped")
	}
	got, err := s.Attachment(ctx, e.ID, "doc")
	if err != nil || got.ID != "new" || got.KeyVersion != 2 || !got.Created.Equal(old.Created) {
		t.Errorf("Attachment(doc) = %+v, %v; want id new, version 2, created kept", got, err)
	}
	sameChunks(t, "rewritten chunks", readChunks(t, s, got), newCS)
	if _, err := s.AttachmentChunk(ctx, "old", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttachmentChunk(old) = %v, want ErrNotFound", err)
	}
	// A client replaces img meanwhile: the rewrite is not committed.
	client := upload(t, s, attachment(e, "client", "img"), chunks("c", 1, 10))
	ok, w := rewrite(other, "stale", chunks("s", 1, 10))
	if ok {
		t.Errorf("CommitAttachmentRewrite(replaced) = true, want false")
	}
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort() after a skipped rewrite = %v", err)
	}
	if got, _ := s.Attachment(ctx, e.ID, "img"); got.ID != client.ID {
		t.Errorf("Attachment(img) = %s, want the client's %s", got.ID, client.ID)
	}
	if j, _ := s.Job(ctx, "job"); j.Cursor != "other" || j.Counts != "false" {
		t.Errorf("job progress = %q %q, want other false (progress is recorded on a skip too)", j.Cursor, j.Counts)
	}
}

func testKeyStates(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "app")
	put(t, s, newEntry(db, "a"), 0)
	if err := s.AddDataKey(ctx, dataKey(db.ID, 2, store.KeyPrimary)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDataKeyState(ctx, db.ID, 1, store.KeyRetired); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retire a used version = %v, want ErrConflict", err)
	}
	if err := s.SetDataKeyState(ctx, db.ID, 2, store.KeyRetired); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retire the primary = %v, want ErrConflict", err)
	}
	if err := s.SetDataKeyState(ctx, db.ID, 9, store.KeyRetired); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retire a missing version = %v, want ErrNotFound", err)
	}
	if err := s.DestroyDataKey(ctx, db.ID, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("destroy an active version = %v, want ErrConflict", err)
	}
	if err := s.DeleteEntry(ctx, db.ID, "a", store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDataKeyState(ctx, db.ID, 1, store.KeyRetired); err != nil {
		t.Fatalf("retire an unused version = %v", err)
	}
	if keys, _ := s.DataKeys(ctx, db.ID); len(keys) != 2 || keys[0].State != store.KeyRetired {
		t.Errorf("DataKeys() = %+v, want version 1 retired", keys)
	}
	if err := s.DestroyDataKey(ctx, db.ID, 2); !errors.Is(err, store.ErrConflict) {
		t.Errorf("destroy the primary = %v, want ErrConflict", err)
	}
	if err := s.DestroyDataKey(ctx, db.ID, 1); err != nil {
		t.Fatalf("destroy a retired version = %v", err)
	}
	if keys, _ := s.DataKeys(ctx, db.ID); len(keys) != 1 || keys[0].Version != 2 {
		t.Errorf("DataKeys() after destroy = %+v, want version 2 alone", keys)
	}
	if err := s.DestroyDataKey(ctx, db.ID, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("destroy again = %v, want ErrNotFound", err)
	}
}

// fixed returns a progress function that ignores what was applied.
func fixed(p store.JobProgress) func([]bool) store.JobProgress {
	return func([]bool) store.JobProgress { return p }
}
