package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/store"
)

// testConcurrentCAS runs read-modify-write increments of one counter from
// several goroutines, retrying on ErrConflict: no update may be lost.
func testConcurrentCAS(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "cas")
	e := newEntry(db, "counter")
	e.Ciphertext = binary.BigEndian.AppendUint64(nil, 0)
	put(t, s, e, 0)

	const workers, each = 8, 20
	var (
		wg        sync.WaitGroup
		conflicts atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for range each {
				if err := increment(ctx, s, db.ID, e.Path, &conflicts); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Entry(ctx, db.ID, e.Path)
	if err != nil {
		t.Fatalf("Entry() = %v", err)
	}
	if n := binary.BigEndian.Uint64(got.Ciphertext); n != workers*each || got.Revision != 1+workers*each {
		t.Errorf("counter = %d at revision %d, want %d at revision %d (lost updates)",
			n, got.Revision, workers*each, 1+workers*each)
	}
	t.Logf("%d increments, %d conflicts retried", workers*each, conflicts.Load())
}

func increment(ctx context.Context, s store.Store, dbID, path string, conflicts *atomic.Int64) error {
	for {
		cur, err := s.Entry(ctx, dbID, path)
		if err != nil {
			return fmt.Errorf("Entry() = %v", err)
		}
		n := binary.BigEndian.Uint64(cur.Ciphertext)
		cur.Ciphertext = binary.BigEndian.AppendUint64(nil, n+1)
		_, err = s.PutEntry(ctx, cur, cur.Revision)
		if errors.Is(err, store.ErrConflict) {
			conflicts.Add(1)
			continue
		}
		if err != nil {
			return fmt.Errorf("PutEntry() = %v", err)
		}
		return nil
	}
}

// testParallelWriters creates, updates and attaches to different entries
// from several goroutines at once.
func testParallelWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "parallel")
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				e := newEntry(db, fmt.Sprintf("w%d/e%02d", g, i))
				created, err := s.PutEntry(ctx, e, 0)
				if err == nil {
					created.Ciphertext = []byte("updated")
					_, err = s.PutEntry(ctx, created, created.Revision)
				}
				if err != nil {
					t.Errorf("PutEntry(%q) = %v", e.Path, err)
					return
				}
			}
			e, err := s.Entry(ctx, db.ID, fmt.Sprintf("w%d/e00", g))
			if err != nil {
				t.Errorf("Entry() = %v", err)
				return
			}
			a := store.Attachment{ID: "att-" + e.ID, EntryID: e.ID, Name: "file", KeyVersion: 1}
			w, err := s.BeginAttachment(ctx, a)
			if err != nil {
				t.Errorf("BeginAttachment() = %v", err)
				return
			}
			for i, c := range chunks(e.Path, 20, 4096) {
				if err := w.WriteChunk(ctx, int64(i), c); err != nil {
					t.Errorf("WriteChunk() = %v", err)
					return
				}
			}
			a.Chunks = 20
			if _, err := w.Commit(ctx, a); err != nil {
				t.Errorf("Commit() = %v", err)
			}
		})
	}
	wg.Wait()
	all, err := s.Entries(ctx, db.ID, "", "", 0)
	if err != nil {
		t.Fatalf("Entries() = %v", err)
	}
	if len(all) != workers*each {
		t.Errorf("Entries() = %d entries, want %d", len(all), workers*each)
	}
	for _, e := range all {
		if e.Revision != 2 {
			t.Errorf("entry %q at revision %d, want 2", e.Path, e.Revision)
		}
	}
	usage, _ := s.KeyUsage(ctx, db.ID)
	diff(t, "KeyUsage()", usage, []store.KeyUsage{{Version: 1, Entries: workers * each, Attachments: workers}})
}
