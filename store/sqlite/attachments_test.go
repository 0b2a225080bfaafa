package sqlite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// attachmentFiles lists the names in the attachments directory of s.
func attachmentFiles(t *testing.T, s *Store) []string {
	t.Helper()
	names := dirNames(t, s.dir)
	slices.Sort(names)
	return names
}

// age sets the modification time of a file in the attachments directory
// to longer ago than abandonAfter.
func age(t *testing.T, s *Store, name string) {
	t.Helper()
	old := time.Now().Add(-abandonAfter - time.Minute)
	if err := os.Chtimes(filepath.Join(s.dir, name), old, old); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringUpload starts an upload in a child process that then dies
// without Commit, Abort or Close, and reopens the store.
func TestCrashDuringUpload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	runHelper(t, path, "upload")

	// Just after the crash the upload could still be another process's
	// live one: an Open leaves it alone.
	s := openTemp(t, path)
	if got := attachmentFiles(t, s); !slices.Equal(got, []string{"a.part"}) {
		t.Fatalf("files after an immediate reopen = %v, want [a.part]", got)
	}
	s.Close()
	// Once idle for longer than abandonAfter, it is removed at Open.
	age(t, s, "a.part")
	s = openTemp(t, path)
	if got := attachmentFiles(t, s); len(got) != 0 {
		t.Errorf("files after reopening past abandonAfter = %v, want none", got)
	}
	if _, err := s.Entry(t.Context(), "db", "p"); err != nil {
		t.Errorf("Entry() after the crash = %v", err)
	}
}

// TestCrashBetweenRenameAndCommit kills a child process in Commit after
// its file got its final name and before the row was committed: nothing is
// visible, and the orphan file is removed at the next Open.
func TestCrashBetweenRenameAndCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	runHelper(t, path, "commit")
	dir := filepath.Join(filepath.Dir(path), AttachmentsDir)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("files after the crash = %v, want the renamed file [a]", got)
	}
	s := openTemp(t, path)
	if got := attachmentFiles(t, s); len(got) != 0 {
		t.Errorf("files after reopening = %v, want the orphan removed", got)
	}
	invisibleIn(t, s, "e", "n", "a")
}

// invisibleIn fails unless attachment name of entry, id, cannot be read.
func invisibleIn(t *testing.T, s *Store, entryID, name, id string) {
	t.Helper()
	if a, err := s.Attachment(t.Context(), entryID, name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Attachment(%q) = %+v, %v; want ErrNotFound", name, a, err)
	}
	if _, err := s.AttachmentChunk(t.Context(), id, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttachmentChunk(%q, 0) = %v, want ErrNotFound", id, err)
	}
}

const crashEnv = "KEYWARD_SQLITE_CRASH_HELPER"

// runHelper runs TestCrashHelper in a child process on the store at path,
// and checks that it died where asked (stage "upload" or "commit").
func runHelper(t *testing.T, path, stage string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+stage+":"+path)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "dying in "+stage) {
		t.Fatalf("helper process: %v, want it to die in %s; output:\n%s", err, stage, out)
	}
}

// TestCrashHelper is the child process of the crash tests: it uploads an
// attachment and exits without Commit, Abort or Close ("upload"), or in
// Commit right after the rename ("commit").
func TestCrashHelper(t *testing.T) {
	stage, path, ok := strings.Cut(os.Getenv(crashEnv), ":")
	if !ok {
		return // only run as a child of the crash tests
	}
	s, e := storeAt(t, path)
	ctx := t.Context()
	w, err := s.BeginAttachment(ctx, store.Attachment{ID: "a", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.WriteChunk(ctx, int64(i), []byte("chunk")); err != nil {
			t.Fatal(err)
		}
	}
	if stage == "commit" {
		testHookRenamed = func(string) error {
			fmt.Println("dying in commit")
			os.Exit(3)
			return nil
		}
		_, err := w.Commit(ctx, store.Attachment{Chunks: 5})
		t.Fatalf("Commit() = %v, want the process to die in it", err)
	}
	fmt.Println("dying in upload")
	os.Exit(3)
}

func TestAbandonedUploadRemoved(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	if _, err := s.BeginAttachment(ctx, store.Attachment{ID: "old", EntryID: e.ID, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	live, err := s.BeginAttachment(ctx, store.Attachment{ID: "live", EntryID: e.ID, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	age(t, s, "old.part")
	age(t, s, "live.part")
	// A batch's worth of bytes reaches the file at once and touches it.
	if err := live.WriteChunk(ctx, 0, make([]byte, writeBatch)); err != nil {
		t.Fatal(err)
	}
	// Not due yet: BeginAttachment sweeps every sweepEvery only.
	if _, err := s.BeginAttachment(ctx, store.Attachment{ID: "new1", EntryID: e.ID, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if got := attachmentFiles(t, s); !slices.Contains(got, "old.part") {
		t.Fatalf("files = %v; a sweep ran before it was due", got)
	}
	s.lastSweep.Store(time.Now().Add(-sweepEvery - time.Second).UnixNano())
	if _, err := s.BeginAttachment(ctx, store.Attachment{ID: "new2", EntryID: e.ID, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"live.part", "new1.part", "new2.part"}
	if got := attachmentFiles(t, s); !slices.Equal(got, want) {
		t.Errorf("files after a due sweep = %v, want %v (the abandoned upload removed)", got, want)
	}
}

// TestSweepLeavesForeignNames checks that the sweep removes orphans and
// leaves files it does not know by name.
func TestSweepLeavesForeignNames(t *testing.T) {
	s, e := storeWithEntry(t)
	a := uploadChunks(t, s, e.ID, "a1", "n", distinctChunks(3))
	for _, name := range []string{"orphan", "~6f2f70", "README.txt", "x.part.bak", "~zz"} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.sweep(t.Context(), time.Now().Add(-abandonAfter)); err != nil {
		t.Fatalf("sweep() = %v", err)
	}
	want := []string{"README.txt", "a1", "x.part.bak", "~zz"}
	if got := attachmentFiles(t, s); !slices.Equal(got, want) {
		t.Errorf("files after a sweep = %v, want %v", got, want)
	}
	if _, err := s.AttachmentChunk(t.Context(), a.ID, 2); err != nil {
		t.Errorf("AttachmentChunk() after a sweep = %v", err)
	}
}

// TestNoOrphanFiles checks that replaced, deleted and cascaded attachments
// leave no file behind.
func TestNoOrphanFiles(t *testing.T) {
	ctx := t.Context()
	s, e := storeWithEntry(t)
	uploadChunks(t, s, e.ID, "a1", "a", distinctChunks(3))
	uploadChunks(t, s, e.ID, "a2", "a", distinctChunks(2)) // replaces a1
	uploadChunks(t, s, e.ID, "b1", "b", distinctChunks(4))
	if got, want := attachmentFiles(t, s), []string{"a2", "b1"}; !slices.Equal(got, want) {
		t.Errorf("files after a replacement = %v, want %v", got, want)
	}
	if err := s.DeleteAttachment(ctx, e.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if got, want := attachmentFiles(t, s), []string{"a2"}; !slices.Equal(got, want) {
		t.Errorf("files after DeleteAttachment = %v, want %v", got, want)
	}
	if err := s.DeleteEntry(ctx, "db", "p", store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if got := attachmentFiles(t, s); len(got) != 0 {
		t.Errorf("files after DeleteEntry = %v, want none", got)
	}
}

// TestFileNames checks the escaping of ids that are not safe file names.
func TestFileNames(t *testing.T) {
	for _, id := range []string{"abc-DEF_09", "id:db/path", "..", ".part", "a.part", "é", strings.Repeat("x", maxIDLen)} {
		name, err := fileName(id)
		if err != nil {
			t.Errorf("fileName(%q) = %v", id, err)
			continue
		}
		if strings.ContainsAny(name, "/.\\") || len(name) > 250 {
			t.Errorf("fileName(%q) = %q, not a plain file name", id, name)
		}
		if back, ok := idOfName(name); !ok || back != id {
			t.Errorf("idOfName(fileName(%q) = %q) = %q, %v", id, name, back, ok)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", maxIDLen+1)} {
		if _, err := fileName(id); err == nil {
			t.Errorf("fileName(%d bytes) = nil error, want one", len(id))
		}
	}
	for _, name := range []string{"~61", "~", "~6", "a.b", "~ZZ", "~0"} {
		if id, ok := idOfName(name); ok {
			t.Errorf("idOfName(%q) = %q, want it refused", name, id)
		}
	}
}
