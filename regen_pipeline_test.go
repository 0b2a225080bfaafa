package keyward_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store"
)

// readHookStore calls hook after each EntriesBelow with the rows it read.
type readHookStore struct {
	store.Store
	hook func(n int64, rows []store.Entry)
	n    atomic.Int64
}

func (s *readHookStore) EntriesBelow(ctx context.Context, dbID string, version uint32, afterID string, limit int) ([]store.Entry, error) {
	rows, err := s.Store.EntriesBelow(ctx, dbID, version, afterID, limit)
	if err == nil {
		s.hook(s.n.Add(1), rows)
	}
	return rows, err
}

// A client changes an entry after the regeneration has read it (the second
// read: the batch prepared while the first commits) and before that batch
// commits: the client's value stays, the row is counted as skipped, and the
// verifying pass still moves every entry to the new version.
func TestRegenerateRowChangedAfterRead(t *testing.T) {
	fastJobs(t)
	var db *keyward.Database
	var changed atomic.Value
	hs := &readHookStore{}
	hs.hook = func(n int64, rows []store.Entry) {
		if n != 2 || len(rows) == 0 {
			return
		}
		e := rows[0]
		_, err := db.Put(context.Background(), keyward.Entry{Path: e.Path, Revision: e.Revision,
			Fields: map[string]string{"v": "changed by a client"}})
		if err != nil {
			t.Errorf("client Put(%s) = %v", e.Path, err)
			return
		}
		changed.Store(e.Path)
	}
	kw, _ := setupWrapped(t, func(s store.Store) store.Store { hs.Store = s; return hs })
	ctx := t.Context()
	db = mustDB(t, kw, "app")
	const n = 30
	fill(t, db, n)
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	j := runJob(t, kw, job.ID)
	path, _ := changed.Load().(string)
	if path == "" {
		t.Fatal("the hook changed no entry: the test proves nothing")
	}
	if j.State != "done" || j.Progress.Skipped < 1 {
		t.Errorf("job = %s with %d skipped, want done with the changed row skipped", j.State, j.Progress.Skipped)
	}
	for i := range n {
		want := value(i)
		if entryPath(i) == path {
			want = "changed by a client"
		}
		e, err := db.Get(ctx, entryPath(i))
		if err != nil || e.Fields["v"] != want {
			t.Errorf("Get(%s) = %q, %v; want %q", entryPath(i), e.Fields["v"], err, want)
		}
	}
	onlyOn(t, kw, "app", 2)
}
