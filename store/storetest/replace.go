package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/store"
)

// testConcurrentReplace replaces an attachment again and again while
// readers read it: a reader sees the chunks of the attachment whose
// metadata it read, or ErrNotFound once that one was replaced, never bytes
// of another version and never another error.
func testConcurrentReplace(t *testing.T, s store.Store) {
	_, e := withEntry(t, s)
	const versions, readers, n, size = 20, 4, 6, 2000
	version := func(k int) [][]byte { return chunks(fmt.Sprintf("v%d-", k), n, size) }
	upload(t, s, attachment(e, "att-0", "shared"), version(0))

	var (
		wg       sync.WaitGroup
		done     atomic.Bool
		complete atomic.Int64 // reads that got every chunk
	)
	for range readers {
		wg.Go(func() {
			for i := 0; i < 5 || !done.Load(); i++ {
				if err := readVersion(t, s, e.ID, version, &complete); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for k := 1; k <= versions; k++ {
		upload(t, s, attachment(e, fmt.Sprintf("att-%d", k), "shared"), version(k))
	}
	done.Store(true)
	wg.Wait()
	if complete.Load() == 0 {
		t.Errorf("no read got a whole attachment")
	}
	if err := readVersion(t, s, e.ID, version, &complete); err != nil {
		t.Error(err)
	}
}

// readVersion reads the current attachment "shared" once.
func readVersion(t *testing.T, s store.Store, entryID string, version func(int) [][]byte, complete *atomic.Int64) error {
	ctx := t.Context()
	a, err := s.Attachment(ctx, entryID, "shared")
	if err != nil {
		return fmt.Errorf("Attachment() = %v", err)
	}
	var k int
	if _, err := fmt.Sscanf(a.ID, "att-%d", &k); err != nil {
		return fmt.Errorf("Attachment() returned id %q", a.ID)
	}
	want := version(k)
	for i := range a.Chunks {
		b, err := s.AttachmentChunk(ctx, a.ID, i)
		if errors.Is(err, store.ErrNotFound) {
			return nil // replaced meanwhile
		}
		if err != nil {
			return fmt.Errorf("AttachmentChunk(%s, %d) = %v", a.ID, i, err)
		}
		if !bytes.Equal(b, want[i]) {
			return fmt.Errorf("AttachmentChunk(%s, %d) returned other bytes", a.ID, i)
		}
	}
	complete.Add(1)
	return nil
}
