package keyward_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store/sqlite"

	_ "modernc.org/sqlite"
)

// setup initialises a deployment in a temp dir and opens it.
func setup(t *testing.T) (*keyward.Keyward, keyward.Config, keyward.InitResult) {
	t.Helper()
	return kwtest.Deployment(t, keyward.Config{})
}

func mustDB(t *testing.T, kw *keyward.Keyward, name string) *keyward.Database {
	t.Helper()
	db, err := kw.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// rawDB opens the SQLite file beside the store, as an attacker with file
// access would.
func rawDB(t *testing.T, cfg keyward.Config) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, keyward.DBFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", q)
	}
}

func TestOpenUninitialised(t *testing.T) {
	_, err := keyward.Open(context.Background(), keyward.Config{DataDir: t.TempDir()})
	if !errors.Is(err, keyward.ErrNotInitialized) || !strings.Contains(err.Error(), "keyward init") {
		t.Fatalf("Open(empty dir) = %v, want ErrNotInitialized mentioning `keyward init`", err)
	}
}

func TestInitTwiceChangesNothing(t *testing.T) {
	_, cfg, res := setup(t)
	_, err := keyward.Init(context.Background(), cfg)
	if !errors.Is(err, keyward.ErrAlreadyInitialized) {
		t.Fatalf("second Init = %v, want ErrAlreadyInitialized", err)
	}
	kw2, err := keyward.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw2.Close()
	if kw2.DeploymentID() != res.DeploymentID {
		t.Fatal("deployment id changed after a refused Init")
	}
}

func TestNotFound(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	if _, err := kw.Database(ctx, "nope"); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Database(nope) = %v, want ErrNotFound", err)
	}
	db := mustDB(t, kw, "d")
	if _, err := kw.CreateDatabase(ctx, "d"); !errors.Is(err, keyward.ErrExists) {
		t.Fatalf("CreateDatabase twice = %v, want ErrExists", err)
	}
	if _, err := db.Get(ctx, "missing"); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := db.Delete(ctx, "missing", 0); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Delete(missing) = %v, want ErrNotFound", err)
	}
	if _, err := db.PutAttachment(ctx, "missing", "a", strings.NewReader("x")); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("PutAttachment on a missing entry = %v, want ErrNotFound", err)
	}
	db.Put(ctx, keyward.Entry{Path: "e"})
	if _, err := db.OpenAttachment(ctx, "e", "nope"); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("OpenAttachment(nope) = %v, want ErrNotFound", err)
	}
}

func TestInvalidInput(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	for _, name := range []string{"", "a b", "x/y", strings.Repeat("a", 65), "é"} {
		if _, err := kw.CreateDatabase(ctx, name); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("CreateDatabase(%q) = %v, want ErrInvalid", name, err)
		}
	}
	db := mustDB(t, kw, "d")
	for _, e := range []keyward.Entry{{Path: ""}, {Path: "a\x00b"}, {Path: "p", Tags: []string{""}}, {Path: "p", Fields: map[string]string{"": "v"}}} {
		if _, err := db.Put(ctx, e); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("Put(%q) = %v, want ErrInvalid", e.Path, err)
		}
	}
	db.Put(ctx, keyward.Entry{Path: "p"})
	for _, n := range []string{"", "../x", "a/b", ".."} {
		if _, err := db.PutAttachment(ctx, "p", n, strings.NewReader("x")); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("PutAttachment(name %q) = %v, want ErrInvalid", n, err)
		}
	}
}

func TestPutRevisionsAndConflicts(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	e1, err := db.Put(ctx, keyward.Entry{Path: "p", Tags: []string{"a"}, Fields: map[string]string{"k": "1"}})
	if err != nil || e1.Revision != 1 || e1.KeyVersion != 1 {
		t.Fatalf("first Put = %+v, %v; want revision 1 key version 1", e1, err)
	}
	e2, err := db.Put(ctx, keyward.Entry{Path: "p", Revision: 1, Fields: map[string]string{"k": "2"}})
	if err != nil || e2.Revision != 2 {
		t.Fatalf("CAS Put = %+v, %v; want revision 2", e2, err)
	}
	if _, err := db.Put(ctx, keyward.Entry{Path: "p", Revision: 1, Fields: map[string]string{"k": "3"}}); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("stale Put = %v, want ErrConflict", err)
	}
	if _, err := db.Create(ctx, keyward.Entry{Path: "p"}); !errors.Is(err, keyward.ErrExists) {
		t.Fatalf("Create over existing = %v, want ErrExists", err)
	}
	if err := db.Delete(ctx, "p", 1); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("stale Delete = %v, want ErrConflict", err)
	}
	got, _ := db.Get(ctx, "p")
	if got.Fields["k"] != "2" {
		t.Fatalf("value after refused writes = %q, want 2", got.Fields["k"])
	}
	if err := db.Delete(ctx, "p", 2); err != nil {
		t.Fatal(err)
	}
}

// A writer that read an entry before it was deleted and created again at
// the same path must not overwrite (or delete) the new entry: revisions of
// a database never restart, so its compare-and-swap cannot match.
func TestStaleRevisionAfterDeleteAndCreate(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	old, err := db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "old"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, "p", old.Revision); err != nil {
		t.Fatal(err)
	}
	created, err := db.Create(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "new"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Revision <= old.Revision {
		t.Fatalf("re-created entry has revision %d, not above the deleted one's %d", created.Revision, old.Revision)
	}
	if _, err := db.Put(ctx, keyward.Entry{Path: "p", Revision: old.Revision, Fields: map[string]string{"k": "stale"}}); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Put with the deleted entry's revision = %v, want ErrConflict", err)
	}
	if err := db.Delete(ctx, "p", old.Revision); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Delete with the deleted entry's revision = %v, want ErrConflict", err)
	}
	if got, err := db.Get(ctx, "p"); err != nil || got.Fields["k"] != "new" || got.Revision != created.Revision {
		t.Fatalf("after the stale writes: %+v, %v; want the new entry unchanged", got, err)
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	db.Put(ctx, keyward.Entry{Path: "counter", Fields: map[string]string{"n": ""}})
	const workers, each = 6, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				for { // read-modify-write with compare-and-swap
					e, err := db.Get(ctx, "counter")
					if err != nil {
						t.Error(err)
						return
					}
					e.Fields["n"] += "x"
					if _, err = db.Put(ctx, e); err == nil {
						break
					} else if !errors.Is(err, keyward.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
			// unconditional puts on private paths run alongside
			db.Put(ctx, keyward.Entry{Path: "w" + string(rune('a'+w)), Fields: map[string]string{"v": "1"}})
		})
	}
	wg.Wait()
	e, err := db.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Fields["n"]) != workers*each || e.Revision != workers*each+1 {
		t.Fatalf("counter = %d increments at revision %d, want %d at %d", len(e.Fields["n"]), e.Revision, workers*each, workers*each+1)
	}
}

// TestTamperedEntries changes ciphertexts in the file and expects every read
// to fail, name the entry, and reveal nothing.
func TestTamperedEntries(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	a, b := mustDB(t, kw, "a"), mustDB(t, kw, "b")
	for _, db := range []*keyward.Database{a, b} {
		for _, p := range []string{"one", "two", "three", "four"} {
			if _, err := db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"secret": "VALUE-" + db.Name() + "-" + p}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw := rawDB(t, cfg)
	// one: a flipped byte in the tag (XOR, so it always changes).
	flipLastByte(t, raw, `SELECT rowid, ciphertext FROM entries WHERE path = 'one' AND database_id = (SELECT id FROM databases WHERE name = 'a')`, `UPDATE entries SET ciphertext = ? WHERE rowid = ?`)
	// two: truncated.
	exec(t, raw, `UPDATE entries SET ciphertext = substr(ciphertext, 1, 20) WHERE path = 'two' AND database_id = (SELECT id FROM databases WHERE name = 'a')`)
	// three: swapped with four in the same database.
	exec(t, raw, `UPDATE entries SET ciphertext = (SELECT ciphertext FROM entries e2 WHERE e2.path = 'four' AND e2.database_id = entries.database_id) WHERE path = 'three' AND database_id = (SELECT id FROM databases WHERE name = 'a')`)
	// b/four: moved in from database a's row of the same path.
	exec(t, raw, `UPDATE entries SET ciphertext = (SELECT ciphertext FROM entries e2 WHERE e2.path = 'four' AND e2.database_id = (SELECT id FROM databases WHERE name = 'a')) WHERE path = 'four' AND database_id = (SELECT id FROM databases WHERE name = 'b')`)
	// b/one: its path renamed (the ciphertext is bound to the path).
	exec(t, raw, `UPDATE entries SET path = 'renamed' WHERE path = 'one' AND database_id = (SELECT id FROM databases WHERE name = 'b')`)

	cases := []struct {
		db   *keyward.Database
		path string
	}{{a, "one"}, {a, "two"}, {a, "three"}, {b, "four"}, {b, "renamed"}}
	for _, c := range cases {
		_, err := c.db.Get(ctx, c.path)
		var ie *keyward.IntegrityError
		if !errors.As(err, &ie) || ie.Path != c.path || !errors.Is(err, keyward.ErrIntegrity) {
			t.Errorf("%s/%s: Get = %v, want *IntegrityError naming it", c.db.Name(), c.path, err)
			continue
		}
		if strings.Contains(err.Error(), "VALUE-") || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s/%s: error leaks a value or omits the path: %v", c.db.Name(), c.path, err)
		}
	}
	// The untouched entries still read: one bad record never stops others.
	if e, err := a.Get(ctx, "four"); err != nil || e.Fields["secret"] != "VALUE-a-four" {
		t.Fatalf("untouched a/four = %v, %v", e.Fields, err)
	}
	if e, err := b.Get(ctx, "two"); err != nil || e.Fields["secret"] != "VALUE-b-two" {
		t.Fatalf("untouched b/two = %v, %v", e.Fields, err)
	}
}

func TestTamperedWrappedKey(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "a")
	db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "v"}})
	kw.Close() // drop the cached key
	flipLastByte(t, rawDB(t, cfg), `SELECT rowid, wrapped FROM data_keys`, `UPDATE data_keys SET wrapped = ? WHERE rowid = ?`)
	kw2, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw2.Close()
	db2, _ := kw2.Database(ctx, "a")
	if _, err := db2.Get(ctx, "p"); !errors.Is(err, crypt.ErrAuth) || !errors.Is(err, keyward.ErrIntegrity) {
		t.Fatalf("Get with a tampered data key = %v, want an integrity error wrapping crypt.ErrAuth", err)
	}
}

func TestCiphertextFromAnotherDeployment(t *testing.T) {
	ctx := context.Background()
	kw1, cfg1, _ := setup(t)
	kw2, cfg2, _ := setup(t)
	for _, kw := range []*keyward.Keyward{kw1, kw2} {
		db := mustDB(t, kw, "d")
		db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "v"}})
	}
	var ct []byte
	if err := rawDB(t, cfg1).QueryRow(`SELECT ciphertext FROM entries`).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	exec(t, rawDB(t, cfg2), `UPDATE entries SET ciphertext = ?`, ct)
	db2, _ := kw2.Database(ctx, "d")
	if _, err := db2.Get(ctx, "p"); !errors.Is(err, keyward.ErrIntegrity) {
		t.Fatalf("ciphertext from another deployment: Get = %v, want ErrIntegrity", err)
	}
}

func TestTamperedAttachments(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	body := bytes.Repeat([]byte("attachment-data."), 3*crypt.ChunkSize/16+100) // 4 chunks
	names := []string{"flip", "truncate", "swap", "append", "short", "ok"}
	for _, p := range []string{"e", "f"} {
		db.Put(ctx, keyward.Entry{Path: p})
		for _, n := range names {
			if _, err := db.PutAttachment(ctx, p, n, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw := rawDB(t, cfg)
	att := func(n string) string { // the id of attachment n of entry e
		var id string
		raw.QueryRow(`SELECT a.id FROM attachments a JOIN entries e ON e.id = a.entry_id WHERE e.path = 'e' AND a.name = ?`, n).Scan(&id)
		return id
	}
	const sealed = crypt.ChunkSize + crypt.ChunkOverhead
	file := func(n string) string { return filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, att(n)) }
	edit := func(n string, fn func(b []byte) []byte) {
		b, err := os.ReadFile(file(n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file(n), fn(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit("flip", func(b []byte) []byte { b[2*sealed-1] ^= 0xff; return b }) // last byte of chunk 1
	// The last chunk dropped from the file and from the row alike.
	edit("truncate", func(b []byte) []byte { return b[:3*sealed] })
	exec(t, raw, `UPDATE attachments SET chunks = 3, stored = ? WHERE id = ?`, 3*sealed, att("truncate"))
	edit("swap", func(b []byte) []byte {
		return slices.Concat(b[sealed:2*sealed], b[:sealed], b[2*sealed:]) // chunks 1, 0, 2, 3
	})
	// A copy of chunk 2 inserted after it, recorded in the row.
	edit("append", func(b []byte) []byte { return slices.Concat(b[:3*sealed], b[2*sealed:]) })
	exec(t, raw, `UPDATE attachments SET chunks = 5, stored = stored + ? WHERE id = ?`, sealed, att("append"))
	edit("short", func(b []byte) []byte { return b[:len(b)-100] }) // the row not changed

	for _, n := range names[:5] {
		r, err := db.OpenAttachment(ctx, "e", n)
		if err == nil {
			var got []byte
			got, err = io.ReadAll(r)
			if err == nil {
				t.Errorf("%s: read %d bytes without error", n, len(got))
				continue
			}
		}
		if !errors.Is(err, keyward.ErrIntegrity) || !strings.Contains(err.Error(), n) {
			t.Errorf("%s: err = %v, want an integrity error naming the attachment", n, err)
		}
	}
	// A chunk swapped in from another attachment with the same key fails.
	flipped, err := os.ReadFile(file("flip"))
	if err != nil {
		t.Fatal(err)
	}
	edit("ok", func(b []byte) []byte { copy(b[2*sealed:3*sealed], flipped[2*sealed:]); return b })
	r, err := db.OpenAttachment(ctx, "e", "ok")
	if err == nil {
		_, err = r.ReadAt(make([]byte, 10), 2*crypt.ChunkSize+5)
	}
	if !errors.Is(err, keyward.ErrIntegrity) {
		t.Fatalf("chunk from another attachment: %v, want ErrIntegrity", err)
	}
	// Entry f's attachments are untouched and read back whole.
	r, err = db.OpenAttachment(ctx, "f", "truncate")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("untouched attachment: %d bytes, %v", len(got), err)
	}
}

// flipLastByte reads one (rowid, blob) with sel, inverts the blob's last
// byte, and writes it back with upd (blob, rowid).
func flipLastByte(t *testing.T, raw *sql.DB, sel, upd string) {
	t.Helper()
	var rowid int64
	var b []byte
	if err := raw.QueryRow(sel).Scan(&rowid, &b); err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	exec(t, raw, upd, b, rowid)
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestFailedUploadLeavesPreviousAttachment(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	db.Put(ctx, keyward.Entry{Path: "e"})
	if _, err := db.PutAttachment(ctx, "e", "a", strings.NewReader("old contents")); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutAttachment(ctx, "e", "a", &failingReader{n: 3 * crypt.ChunkSize})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failing upload = %v, want the reader's error", err)
	}
	r, err := db.OpenAttachment(ctx, "e", "a")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "old contents" {
		t.Fatalf("after a failed upload: %q, want the previous attachment", got)
	}
	as, _ := db.Attachments(ctx, "e")
	if len(as) != 1 {
		t.Fatalf("attachments = %d, want 1", len(as))
	}
}

// TestNoPlaintextOnDisk writes marker values and checks that neither they
// nor any key material appear in the database file, its WAL or the attachment
// files.
func TestNoPlaintextOnDisk(t *testing.T) {
	kw, cfg, res := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	marker := "PLAINTEXT-MARKER-7f3a"
	for i := range 50 {
		if _, err := db.Put(ctx, keyward.Entry{Path: "p" + string(rune('a'+i%26)) + "x",
			Fields: map[string]string{"password": marker, marker + "-name": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	db.Put(ctx, keyward.Entry{Path: "doc"})
	if _, err := db.PutAttachment(ctx, "doc", "f", strings.NewReader(strings.Repeat(marker, 10000))); err != nil {
		t.Fatal(err)
	}
	keyFile, err := os.ReadFile(filepath.Join(cfg.KeyDir, kw.DeploymentID()+".key"))
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{
		"field value": []byte(marker), "recovery key": []byte(res.RecoveryKey), "auto key file": keyFile,
	}
	scan := func(stage string) {
		var files []string
		err := filepath.WalkDir(cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if stage == "while open (WAL)" && !slices.Contains(files, filepath.Join(cfg.DataDir, keyward.DBFile+"-wal")) {
			t.Fatalf("no WAL file to scan while open: %v", files)
		}
		attachmentBytes := 0
		scanned := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			scanned += len(b)
			if filepath.Base(filepath.Dir(f)) == sqlite.AttachmentsDir {
				attachmentBytes += len(b)
			}
			for what, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s found in %s", stage, what, filepath.Base(f))
				}
			}
		}
		if scanned < 4096 || attachmentBytes < len(marker)*10000 {
			t.Fatalf("%s: scanned only %d bytes (%d of attachment files) in %v", stage, scanned, attachmentBytes, files)
		}
	}
	scan("while open (WAL)")
	kw.Close()
	scan("after close")
}

func TestSealedOpenReportsSlots(t *testing.T) {
	_, cfg, res := setup(t)
	ctx := context.Background()
	if err := os.RemoveAll(cfg.KeyDir); err != nil {
		t.Fatal(err)
	}
	_, err := keyward.Open(ctx, cfg)
	var ue *keyring.UnlockError
	if !errors.As(err, &ue) || !errors.Is(err, keyward.ErrSealed) || !strings.Contains(err.Error(), "recovery") {
		t.Fatalf("Open without the key file = %v, want an UnlockError", err)
	}
	cfg.RecoveryKey = res.RecoveryKey
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open with the recovery key: %v", err)
	}
	defer kw.Close()
	st, err := kw.Status(ctx)
	if err != nil || st.UnlockedBy == nil || st.UnlockedBy.Spec != "recovery" || st.Slots[0].Error == "" {
		t.Fatalf("status = %+v, %v; want unlocked by recovery and the auto slot's reason", st, err)
	}
}

func TestStatusCountsKeyVersions(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	for _, p := range []string{"a", "b", "c"} {
		db.Put(ctx, keyward.Entry{Path: p})
	}
	db.PutAttachment(ctx, "a", "f", strings.NewReader("x"))
	st, err := kw.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Databases) != 1 {
		t.Fatalf("databases = %d", len(st.Databases))
	}
	d := st.Databases[0]
	if d.Entries != 3 || d.Attachments != 1 || len(d.Keys) != 1 || d.Keys[0].Entries != 3 || d.Keys[0].State != "primary" || d.Keys[0].Encryptions < 4 {
		t.Fatalf("database status = %+v", d)
	}
}

func TestFailedInitLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{}
	cfg := keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys"),
		MasterKeys: []string{"env:KW_TEST_PASS"}, Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx := context.Background()
	_, err := keyward.Init(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "KW_TEST_PASS") {
		t.Fatalf("Init with the passphrase variable unset = %v, want an error naming it", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*")); len(left) != 0 {
		t.Fatalf("a failed Init left %v", left)
	}
	env["KW_TEST_PASS"] = "pw"
	cfg.KDF = nil
	if _, err := keyward.Init(ctx, cfg); err != nil {
		t.Fatalf("Init after setting the variable: %v", err)
	}
}

func TestNewerSchemaRefusedUntouched(t *testing.T) {
	kw, cfg, _ := setup(t)
	kw.Close()
	raw := rawDB(t, cfg)
	exec(t, raw, `INSERT INTO schema_migrations (version, applied) VALUES (99, 0)`)
	raw.Close()
	snapshot := func() map[string]string {
		files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*"))
		m := map[string]string{}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			m[filepath.Base(f)] = string(b)
		}
		return m
	}
	before := snapshot()
	_, err := keyward.Open(context.Background(), cfg)
	if !errors.Is(err, keyward.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade keyward") {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaTooNew telling to upgrade", err)
	}
	if after := snapshot(); len(after) != len(before) || len(before) == 0 {
		t.Fatalf("files before %d, after %d", len(before), len(after))
	} else {
		for name, b := range before {
			if after[name] != b {
				t.Fatalf("opening a newer schema changed %s", name)
			}
		}
	}
}
