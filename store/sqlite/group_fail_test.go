package sqlite

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keyward/keyward/store"
)

// batchCase is one operation queued into a batch and the result it must
// get.
type batchCase struct {
	name string
	run  func(ctx context.Context, s *Store) error
	want error // nil, or a sentinel the error must wrap
}

// runInOneBatch runs the first case alone (it leads, holding up the
// writer), queues all the others behind it, then lets them go: they are
// written in a single batch. It returns each case's error.
func runInOneBatch(t *testing.T, s *Store, cases []batchCase) []error {
	t.Helper()
	release := holdWriter(t, s)
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = cases[0].run(context.Background(), s) })
	waitQueued(t, s, 0)
	for i := 1; i < len(cases); i++ {
		wg.Go(func() { errs[i] = cases[i].run(context.Background(), s) })
	}
	waitQueued(t, s, len(cases)-1)
	release()
	wg.Wait()
	return errs
}

func put(path string, expect int64) func(context.Context, *Store) error {
	return func(ctx context.Context, s *Store) error {
		_, err := s.PutEntry(ctx, testEntry(path), expect)
		return err
	}
}

// TestGroupFailureIsolated checks that operations failing inside a batch
// (conflicts, missing rows, constraint errors) fail alone.
func TestGroupFailureIsolated(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	for _, p := range []string{"existing", "to-delete"} {
		if _, err := s.PutEntry(ctx, testEntry(p), 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []batchCase{
		{"leader", put("leader", 0), nil},
		{"create", put("a", 0), nil},
		{"stale revision", put("existing", 7), store.ErrConflict},
		{"create over existing", put("existing", 0), store.ErrConflict},
		{"unknown database", func(ctx context.Context, s *Store) error {
			e := testEntry("x")
			e.DatabaseID = "nope"
			_, err := s.PutEntry(ctx, e, 0)
			return err
		}, store.ErrNotFound},
		{"id of another entry", func(ctx context.Context, s *Store) error {
			e := testEntry("y")
			e.ID = testEntry("existing").ID
			_, err := s.PutEntry(ctx, e, 0)
			return err
		}, store.ErrExists},
		{"delete missing", func(ctx context.Context, s *Store) error {
			return s.DeleteEntry(ctx, "db", "missing", store.AnyRevision)
		}, store.ErrNotFound},
		{"delete stale", func(ctx context.Context, s *Store) error {
			return s.DeleteEntry(ctx, "db", "existing", 5)
		}, store.ErrConflict},
		{"delete", func(ctx context.Context, s *Store) error {
			return s.DeleteEntry(ctx, "db", "to-delete", 1)
		}, nil},
		{"reserve unknown version", func(ctx context.Context, s *Store) error {
			_, err := s.ReserveEncryptions(ctx, "db", 9, 16)
			return err
		}, store.ErrNotFound},
		{"reserve", func(ctx context.Context, s *Store) error {
			n, err := s.ReserveEncryptions(ctx, "db", 1, 16)
			if err == nil && n != 16 {
				t.Errorf("ReserveEncryptions() = %d, want 16", n)
			}
			return err
		}, nil},
		{"update", put("existing", 1), nil},
		{"create after failures", put("b", 0), nil},
	}
	ops0, batches0 := counters(s)
	errs := runInOneBatch(t, s, cases)
	for i, c := range cases {
		if (c.want == nil) != (errs[i] == nil) || (c.want != nil && !errors.Is(errs[i], c.want)) {
			t.Errorf("%s: error = %v, want %v", c.name, errs[i], c.want)
		}
	}
	if ops, batches := counters(s); ops-ops0 != int64(len(cases)) || batches-batches0 != 2 {
		t.Errorf("%d operations in %d batches, want %d in 2", ops-ops0, batches-batches0, len(cases))
	}
	for path, rev := range map[string]int64{"leader": 1, "existing": 2} {
		if e, err := s.Entry(ctx, "db", path); err != nil || e.Revision != rev {
			t.Errorf("Entry(%q) = revision %d, %v; want %d", path, e.Revision, err, rev)
		}
	}
	// a and b were queued in no set order with the delete of to-delete
	// (revision 1): created after it in the batch, they start above it.
	for _, path := range []string{"a", "b"} {
		if e, err := s.Entry(ctx, "db", path); err != nil || (e.Revision != 1 && e.Revision != 2) {
			t.Errorf("Entry(%q) = revision %d, %v; want 1 or 2", path, e.Revision, err)
		}
	}
	for _, path := range []string{"to-delete", "x", "y"} {
		if _, err := s.Entry(ctx, "db", path); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Entry(%q) = %v, want ErrNotFound", path, err)
		}
	}
}

// TestGroupCommitFailure makes COMMIT itself fail (a deferred foreign key
// violated by the hook): every operation of the batch gets the error,
// nothing of the batch is written, and the store works afterwards.
func TestGroupCommitFailure(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	s.group.beforeCommit = func(ctx context.Context, q execer) error {
		if _, err := q.ExecContext(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, insertEntry, "orphan", "no-such-db", "orphan", "t", "[]", 1, 1, []byte{})
		return err
	}
	cases := []batchCase{
		{"leader", put("leader", 0), nil},
		{"a", put("a", 0), nil},
		{"b", put("b", 0), nil},
		{"conflict", put("c", 3), nil},
		{"reserve", func(ctx context.Context, s *Store) error {
			_, err := s.ReserveEncryptions(ctx, "db", 1, 16)
			return err
		}, nil},
	}
	errs := runInOneBatch(t, s, cases)
	s.group.beforeCommit = nil // the batches are over (runInOneBatch waited)
	for i, c := range cases {
		if errs[i] == nil || errors.Is(errs[i], store.ErrNotFound) || errors.Is(errs[i], store.ErrConflict) {
			t.Errorf("%s: error = %v, want the failed commit's", c.name, errs[i])
		}
	}
	for _, path := range []string{"leader", "a", "b", "orphan"} {
		if _, err := s.Entry(ctx, "db", path); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Entry(%q) after a failed commit = %v, want ErrNotFound", path, err)
		}
	}
	if keys, err := s.DataKeys(ctx, "db"); err != nil || keys[0].Encryptions != 0 {
		t.Errorf("DataKeys() = %v, %v; want 0 encryptions reserved", keys, err)
	}
	if _, err := s.PutEntry(ctx, testEntry("after"), 0); err != nil {
		t.Errorf("PutEntry() after a failed commit = %v", err)
	}
}

// TestGroupCancelQueued checks that a caller whose context ends while its
// operation waits in the queue gets the context's error at once, and that
// nothing of its operation is written.
func TestGroupCancelQueued(t *testing.T) {
	s := groupStore(t)
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	var leaderErr error
	wg.Go(func() { leaderErr = put("leader", 0)(context.Background(), s) })
	waitQueued(t, s, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- put("cancelled", 0)(ctx, s) }()
	waitQueued(t, s, 1)
	cancel()
	// The writer is still held: only a withdrawn operation can return.
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("PutEntry(cancelled while queued) = %v, want context.Canceled", err)
	}
	waitQueued(t, s, 0)
	release()
	wg.Wait()
	if leaderErr != nil {
		t.Errorf("PutEntry(leader) = %v", leaderErr)
	}
	if _, err := s.Entry(t.Context(), "db", "cancelled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry(cancelled) = %v, want ErrNotFound", err)
	}
	if err := put("late", 0)(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("PutEntry(already cancelled) = %v, want context.Canceled", err)
	}
}

// TestGroupCancelTaken checks that an operation taken into a batch is
// written, and reported as written, even if its context ends meanwhile.
func TestGroupCancelTaken(t *testing.T) {
	s := groupStore(t)
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- put("taken", 0)(ctx, s) }()
	waitQueued(t, s, 0) // busy with nothing queued: its operation was taken
	cancel()
	release()
	if err := <-done; err != nil {
		t.Errorf("PutEntry(cancelled after being taken) = %v, want its result (success)", err)
	}
	if _, err := s.Entry(t.Context(), "db", "taken"); err != nil {
		t.Errorf("Entry(taken) = %v", err)
	}
}

// TestGroupClosed checks that writes to a closed store fail instead of
// waiting.
func TestGroupClosed(t *testing.T) {
	s := groupStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutEntry(t.Context(), testEntry("x"), 0); err == nil {
		t.Error("PutEntry() on a closed store succeeded")
	}
	if err := s.DeleteEntry(t.Context(), "db", "x", store.AnyRevision); err == nil {
		t.Error("DeleteEntry() on a closed store succeeded")
	}
}
