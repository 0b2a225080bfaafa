package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/store"
)

// put replaces entry e of store s with ciphertext ct and returns the new row.
func putCT(t *testing.T, s *Store, e store.Entry, ct string) store.Entry {
	t.Helper()
	e.Ciphertext = []byte(ct)
	got, err := s.PutEntry(context.Background(), e, e.Revision)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestEntryCacheServesAndInvalidates(t *testing.T) {
	ctx := context.Background()
	s, e := storeWithEntry(t)
	if _, ok := s.cache.token(); !ok {
		t.Fatal("the WAL index header cannot be read: the entry cache is off")
	}
	e = putCT(t, s, e, "v1")
	first, err := s.Entry(ctx, "db", "p")
	if err != nil || string(first.Ciphertext) != "v1" {
		t.Fatalf("Entry = %+v, %v", first, err)
	}
	tok, _ := s.cache.token()
	if _, ok := s.cache.get(tok, entryKey{"db", "p"}); !ok {
		t.Fatal("a read did not go into the cache")
	}
	// A caller changing what it got does not change the cache.
	first.Ciphertext[0] = 'X'
	again, _ := s.Entry(ctx, "db", "p")
	if string(again.Ciphertext) != "v1" {
		t.Fatalf("the cache was changed through a returned entry: %q", again.Ciphertext)
	}
	// Any commit invalidates it, even one that does not touch the entry.
	if err := s.CreateDatabase(ctx, store.Database{ID: "db2", Name: "db2"}, store.DataKey{Version: 1, State: store.KeyPrimary}); err != nil {
		t.Fatal(err)
	}
	if tok2, _ := s.cache.token(); tok2 == tok {
		t.Fatal("a commit did not change the WAL index header")
	}
	e = putCT(t, s, e, "v2")
	if got, _ := s.Entry(ctx, "db", "p"); string(got.Ciphertext) != "v2" || got.Revision != e.Revision {
		t.Fatalf("Entry after a write = %q rev %d, want v2 rev %d", got.Ciphertext, got.Revision, e.Revision)
	}
}

// Two stores on one file (as two processes would be): a write through one
// is seen at once by the other, however its reads are cached.
func TestEntryCacheSeesOtherStoresWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	writer, e := storeAt(t, path)
	reader := openTemp(t, path)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 { // readers keep the cache busy meanwhile
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := reader.Entry(ctx, "db", "p"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 200 {
		e = putCT(t, writer, e, "v"+strconv.Itoa(i))
		got, err := reader.Entry(ctx, "db", "p")
		if err != nil || got.Revision < e.Revision {
			t.Fatalf("after write %d (revision %d) the other store read revision %d, %v", i, e.Revision, got.Revision, err)
		}
	}
	close(stop)
	wg.Wait()
}

const cacheChildEnv = "KEYWARD_SQLITE_CACHE_CHILD"

// TestEntryCacheChild writes one entry in a child process (see
// TestEntryCacheSeesOtherProcessWrites).
func TestEntryCacheChild(t *testing.T) {
	arg := os.Getenv(cacheChildEnv)
	if arg == "" {
		t.Skip("helper of TestEntryCacheSeesOtherProcessWrites")
	}
	path, rev, _ := strings.Cut(arg, "|")
	r, _ := strconv.ParseInt(rev, 10, 64)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutEntry(context.Background(), store.Entry{ID: "e", DatabaseID: "db", Path: "p", Ciphertext: []byte("from child " + rev)}, r); err != nil {
		t.Fatal(err)
	}
	fmt.Println("child wrote")
}

// Another process's write is seen at once although the row was cached.
func TestEntryCacheSeesOtherProcessWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, e := storeAt(t, path)
	for i := range 3 {
		if got, err := s.Entry(ctx, "db", "p"); err != nil || got.Revision != e.Revision {
			t.Fatalf("Entry = %+v, %v", got, err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestEntryCacheChild$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d", cacheChildEnv, path, e.Revision))
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("child wrote")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		got, err := s.Entry(ctx, "db", "p")
		if err != nil || got.Revision != e.Revision+1 || !bytes.HasPrefix(got.Ciphertext, []byte("from child")) {
			t.Fatalf("round %d: after the child's write Entry = rev %d %q, %v; want rev %d", i, got.Revision, got.Ciphertext, err, e.Revision+1)
		}
		e = got
	}
}
