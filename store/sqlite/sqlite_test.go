package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	})
}

// openTemp opens a store at path and closes it when the test ends (Close
// may run twice; the second call is a no-op).
func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawOpen opens the file without going through a Store.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// rawExec runs statements on the file without going through a Store.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db := rawOpen(t, path)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations() = %v", err)
	}
	if last := ms[len(ms)-1].version; last != SchemaVersion {
		t.Errorf("last migration = %d, SchemaVersion = %d", last, SchemaVersion)
	}
}

func TestSchemaTooNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyward.db")
	s := openTemp(t, path)
	if err := s.Init(t.Context(), store.Meta{DeploymentID: "d"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, "INSERT INTO schema_migrations (version, applied) VALUES (999, 0)")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	filesBefore := dirNames(t, dir)

	_, err = Open(t.Context(), path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("Open(newer schema) changed the file")
	}
	if got := dirNames(t, dir); !slices.Equal(got, filesBefore) {
		t.Errorf("files after Open(newer schema) = %v, want %v", got, filesBefore)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	rawExec(t, path, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")
	if _, err := Open(t.Context(), path); err == nil {
		t.Errorf("Open(a database keyward did not create) = nil, want an error")
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "odd ?#% dir", "keyward.db")
	s := openTemp(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.Init(ctx, store.Meta{DeploymentID: "dep"}, []store.Slot{{Spec: "auto", Blob: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	db := store.Database{ID: "db1", Name: "main"}
	if err := s.CreateDatabase(ctx, db, store.DataKey{Version: 1, State: store.KeyPrimary, Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	put, err := s.PutEntry(ctx, store.Entry{ID: "e1", DatabaseID: db.ID, Path: "p", Ciphertext: []byte("c")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = openTemp(t, path)
	m, err := s.Meta(ctx)
	if err != nil || m.DeploymentID != "dep" || m.SchemaVersion != SchemaVersion {
		t.Errorf("Meta() after reopen = %+v, %v", m, err)
	}
	got, err := s.Entry(ctx, db.ID, "p")
	if err != nil || got.Revision != put.Revision || !got.Updated.Equal(put.Updated) || string(got.Ciphertext) != "c" {
		t.Errorf("Entry() after reopen = %+v, %v; want %+v", got, err, put)
	}
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes on Windows")
	}
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "keyward.db")
	s := openTemp(t, path)
	if err := s.Init(t.Context(), store.Meta{DeploymentID: "d"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}, {path + "-wal", 0o600}, {path + "-shm", 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("Stat(%s) = %v", c.path, err)
			continue
		}
		if fi.Mode() != c.want {
			t.Errorf("mode of %s = %v, want %v", filepath.Base(c.path), fi.Mode(), c.want)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""}, {"a", "b"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"é", "\xc3\xaa"},
	} {
		got, ok := prefixEnd(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	for _, c := range []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.write, "journal_mode", "wal"},
		{"writer", s.write, "synchronous", "2"}, // FULL
		{"writer", s.write, "foreign_keys", "1"},
		{"writer", s.write, "busy_timeout", "5000"},
		{"reader", s.read, "foreign_keys", "1"},
		{"reader", s.read, "busy_timeout", "5000"},
		{"reader", s.read, "query_only", "1"},
	} {
		var got string
		if err := c.db.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s: PRAGMA %s = %q, %v; want %q", c.pool, c.pragma, got, err, c.want)
		}
	}
	if got := s.write.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool MaxOpenConnections = %d, want 1", got)
	}
	// BEGIN IMMEDIATE takes the write lock at once: a second writer on the
	// file must wait (here: fail, with no busy timeout) while a write
	// transaction that has not written yet is open.
	tx, err := s.write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec("BEGIN IMMEDIATE"); err == nil {
		t.Errorf("a second BEGIN IMMEDIATE succeeded while a write transaction was open")
	}
}
