package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/storetest"
)

// The conformance suite on the transaction-per-write path too, which tests
// and benchmarks use as the reference.
func TestConformanceWithoutGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
		s.grouped = false
		return s
	})
}

// groupStore opens a store with one database whose id is "db".
func groupStore(t *testing.T) *Store {
	t.Helper()
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	if !s.grouped {
		t.Fatal("group commit is off by default")
	}
	err := s.CreateDatabase(t.Context(), store.Database{ID: "db", Name: "db"},
		store.DataKey{Version: 1, State: store.KeyPrimary, Wrapped: []byte("w")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEntry(path string) store.Entry {
	return store.Entry{ID: "id-" + path, DatabaseID: "db", Path: path, Type: "t", KeyVersion: 1, Ciphertext: []byte(path)}
}

// holdWriter takes the store's only writer connection, so that a leader
// blocks before BEGIN and every later caller queues; release gives it back.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	c, err := s.write.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { c.Close() }) }
	t.Cleanup(release)
	return release
}

// waitQueued waits until a leader is busy and n operations are queued
// behind it. It waits for a state, not for a time: the test's deadline
// bounds it.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for {
		s.group.mu.Lock()
		busy, queued := s.group.busy, len(s.group.queue)
		s.group.mu.Unlock()
		if busy && queued == n {
			return
		}
		if queued > n {
			t.Fatalf("%d operations queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// counters returns the store's operations and batches so far.
func counters(s *Store) (ops, batches int64) { return s.group.ops.Load(), s.group.batches.Load() }

// TestGroupBatches checks that concurrent callers share a commit: with the
// writer held, the first caller leads a batch of one and the others queue;
// they are then written in one batch.
func TestGroupBatches(t *testing.T) {
	s := groupStore(t)
	ops0, batches0 := counters(s)
	release := holdWriter(t, s)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { _, errs[0] = s.PutEntry(context.Background(), testEntry("p00"), 0) })
	waitQueued(t, s, 0)
	for i := 1; i < n; i++ {
		wg.Go(func() { _, errs[i] = s.PutEntry(context.Background(), testEntry(fmt.Sprintf("p%02d", i)), 0) })
	}
	waitQueued(t, s, n-1)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("PutEntry(p%02d) = %v", i, err)
		}
	}
	ops, batches := counters(s)
	if ops-ops0 != n || batches-batches0 != 2 {
		t.Errorf("%d operations in %d batches, want %d in 2", ops-ops0, batches-batches0, n)
	}
	all, err := s.Entries(t.Context(), "db", "", "", 0)
	if err != nil || len(all) != n {
		t.Errorf("Entries() = %d entries, %v; want %d", len(all), err, n)
	}
}

// TestGroupCASSameEntry runs single CAS increments of one counter from many
// goroutines, without retry: the winners' increments must all be there,
// and every loser must get ErrConflict.
func TestGroupCASSameEntry(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	e := testEntry("counter")
	e.Ciphertext = binary.BigEndian.AppendUint64(nil, 0)
	if _, err := s.PutEntry(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	ops0, batches0 := counters(s)
	const workers, each = 32, 20
	var (
		wg         sync.WaitGroup
		wins, lost atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for range each {
				cur, err := s.Entry(ctx, "db", e.Path)
				if err != nil {
					t.Error(err)
					return
				}
				next := cur
				next.Ciphertext = binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(cur.Ciphertext)+1)
				got, err := s.PutEntry(ctx, next, cur.Revision)
				switch {
				case errors.Is(err, store.ErrConflict):
					lost.Add(1)
				case err != nil:
					t.Errorf("PutEntry() = %v, want success or ErrConflict", err)
				case got.Revision != cur.Revision+1 || !got.Updated.After(cur.Updated):
					t.Errorf("PutEntry() = revision %d updated %v, want %d after %v", got.Revision, got.Updated, cur.Revision+1, cur.Updated)
				default:
					wins.Add(1)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Entry(ctx, "db", e.Path)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(binary.BigEndian.Uint64(got.Ciphertext))
	if n != wins.Load() || got.Revision != 1+wins.Load() {
		t.Errorf("counter = %d at revision %d after %d successful increments, want %d at revision %d",
			n, got.Revision, wins.Load(), wins.Load(), 1+wins.Load())
	}
	if wins.Load()+lost.Load() != workers*each {
		t.Errorf("%d wins + %d conflicts, want %d", wins.Load(), lost.Load(), workers*each)
	}
	ops, batches := counters(s)
	t.Logf("%d increments, %d conflicts; %d writes in %d commits", wins.Load(), lost.Load(), ops-ops0, batches-batches0)
}

// TestGroupDifferentEntries creates and updates distinct entries from many
// goroutines; all must succeed.
func TestGroupDifferentEntries(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	const workers, each = 16, 10
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				created, err := s.PutEntry(ctx, testEntry(fmt.Sprintf("w%02d/e%02d", g, i)), 0)
				if err == nil {
					_, err = s.PutEntry(ctx, created, created.Revision)
				}
				if err != nil {
					t.Errorf("PutEntry() = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	all, err := s.Entries(ctx, "db", "", "", 0)
	if err != nil || len(all) != workers*each {
		t.Fatalf("Entries() = %d entries, %v; want %d", len(all), err, workers*each)
	}
	for _, e := range all {
		if e.Revision != 2 {
			t.Errorf("entry %q at revision %d, want 2", e.Path, e.Revision)
		}
	}
}
