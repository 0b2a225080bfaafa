package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// TestCrashLeftoverRemoved starts an upload in a child process that then
// dies without Commit, Abort or Close, and reopens the file.
func TestCrashLeftoverRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "uploading") {
		t.Fatalf("helper process: %v, want it to die while uploading; output:\n%s", err, out)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if n := countPending(t, raw); n != [2]int{1, flushChunks} {
		t.Fatalf("pending rows after the crash = %v, want [1 %d]", n, flushChunks)
	}

	// Just after the crash the upload could still be another process's
	// live one: an Open leaves it alone.
	s := openTemp(t, path)
	if n := countPending(t, s.read); n != [2]int{1, flushChunks} {
		t.Fatalf("pending rows after an immediate reopen = %v, want them kept", n)
	}
	s.Close()
	// Once idle for longer than abandonAfter, it is removed at Open.
	stale := nanos(time.Now().Add(-abandonAfter - time.Minute))
	if _, err := raw.Exec("UPDATE attachments SET touched = ? WHERE committed = 0", stale); err != nil {
		t.Fatal(err)
	}
	s = openTemp(t, path)
	if n := countPending(t, s.read); n != [2]int{0, 0} {
		t.Errorf("pending rows after reopening past abandonAfter = %v, want none", n)
	}
	if _, err := s.Entry(t.Context(), "db", "p"); err != nil {
		t.Errorf("Entry() after the crash = %v", err)
	}
}

const crashEnv = "KEYWARD_SQLITE_CRASH_HELPER"

// TestCrashHelper is the child process of TestCrashLeftoverRemoved.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return // only run as a child of TestCrashLeftoverRemoved
	}
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatabase(ctx, store.Database{ID: "db", Name: "db"},
		store.DataKey{Version: 1, State: store.KeyPrimary}); err != nil {
		t.Fatal(err)
	}
	e, err := s.PutEntry(ctx, store.Entry{ID: "e", DatabaseID: "db", Path: "p"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "a", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range flushChunks + 1 { // one batch written, one chunk buffered
		if err := w.WriteChunk(ctx, int64(i), []byte("chunk")); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("uploading")
	os.Exit(3) // no Commit, Abort or Close
}

// countPending counts pending attachments and all stored chunks.
func countPending(t *testing.T, db *sql.DB) [2]int {
	t.Helper()
	var n [2]int
	err := db.QueryRow(`SELECT (SELECT count(*) FROM attachments WHERE committed = 0),
		(SELECT count(*) FROM attachment_chunks)`).Scan(&n[0], &n[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAbandonedUploadRemoved(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	if err := s.CreateDatabase(ctx, store.Database{ID: "db", Name: "db"},
		store.DataKey{Version: 1, State: store.KeyPrimary}); err != nil {
		t.Fatal(err)
	}
	e, _ := s.PutEntry(ctx, store.Entry{ID: "e", DatabaseID: "db", Path: "p"}, 0)
	if _, err := s.BeginAttachment(ctx, store.Attachment{ID: "old", EntryID: e.ID, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	stale := nanos(time.Now().Add(-abandonAfter - time.Minute))
	if _, err := s.write.Exec("UPDATE attachments SET touched = ? WHERE id = 'old'", stale); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginAttachment(ctx, store.Attachment{ID: "new", EntryID: e.ID, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if n := countPending(t, s.read); n[0] != 1 {
		t.Errorf("pending attachments = %d, want 1 (the abandoned one removed)", n[0])
	}
}

// TestNoOrphanChunks checks that replaced, deleted and cascaded attachments
// leave no chunk rows behind (reads would not show them anyway).
func TestNoOrphanChunks(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	if err := s.CreateDatabase(ctx, store.Database{ID: "db", Name: "db"},
		store.DataKey{Version: 1, State: store.KeyPrimary}); err != nil {
		t.Fatal(err)
	}
	e, _ := s.PutEntry(ctx, store.Entry{ID: "e", DatabaseID: "db", Path: "p"}, 0)
	upload := func(id, name string, n int) {
		w, err := s.BeginAttachment(ctx, store.Attachment{ID: id, EntryID: e.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := w.WriteChunk(ctx, int64(i), []byte("c")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Commit(ctx, store.Attachment{Chunks: int64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	chunkRows := func() int {
		var n int
		if err := s.read.QueryRow("SELECT count(*) FROM attachment_chunks").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	upload("a1", "a", 3)
	upload("a2", "a", 2) // replaces a1
	upload("b1", "b", 4)
	if n := chunkRows(); n != 6 {
		t.Errorf("chunk rows after a replacement = %d, want 6", n)
	}
	if err := s.DeleteAttachment(ctx, e.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if n := chunkRows(); n != 2 {
		t.Errorf("chunk rows after DeleteAttachment = %d, want 2", n)
	}
	if err := s.DeleteEntry(ctx, "db", "p", store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if n := chunkRows(); n != 0 {
		t.Errorf("chunk rows after DeleteEntry = %d, want 0", n)
	}
}
