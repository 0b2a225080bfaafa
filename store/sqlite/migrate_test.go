package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
)

// schemaV1 creates a file at schema version 1 (chunks in the database)
// holding one entry and the given statements' rows.
func schemaV1(t *testing.T, path string, stmts ...string) {
	t.Helper()
	rawExec(t, path, append(append(schemaUpTo(t, 1),
		"INSERT INTO databases VALUES ('db', 'db', 0)",
		`INSERT INTO entries (id, database_id, path, type, created, updated, revision, key_version, ciphertext)
			VALUES ('e', 'db', 'p', '', 0, 0, 1, 1, x'00')`,
	), stmts...)...)
}

// v1Attachment returns the statements that store a committed attachment
// with chunks of the given contents in schema version 1.
func v1Attachment(id, name string, chunks ...string) []string {
	stmts := []string{`INSERT INTO attachments (id, entry_id, name, size, key_version, header, chunks, created, committed)
		VALUES ('` + id + `', 'e', '` + name + `', 7, 1, x'4844', ` + itoa(len(chunks)) + `, 5, 1)`}
	for i, c := range chunks {
		stmts = append(stmts, `INSERT INTO attachment_chunks VALUES ('`+id+`', `+itoa(i)+`, CAST('`+c+`' AS BLOB))`)
	}
	return stmts
}

func itoa(i int) string { return string(rune('0' + i)) } // small numbers only

func TestMigrateChunksToFiles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	stmts := slices.Concat(
		v1Attachment("a1", "one", "aaaa", "bbbb", "cc"),
		v1Attachment("id:odd/id", "two", "x"),
		v1Attachment("empty", "three"),
		[]string{`INSERT INTO attachments (id, entry_id, name, key_version, header, created, committed, touched)
			VALUES ('pending', 'e', 'one', 1, x'', 0, 0, 0)`,
			"INSERT INTO attachment_chunks VALUES ('pending', 0, x'01')"},
	)
	schemaV1(t, path, stmts...)
	s := openTemp(t, path)
	if m, err := s.Meta(ctx); !errors.Is(err, store.ErrNotInitialized) {
		t.Fatalf("Meta() = %+v, %v", m, err) // no meta row: only the schema matters
	}
	want := map[string][]string{"a1": {"aaaa", "bbbb", "cc"}, "id:odd/id": {"x"}, "empty": nil}
	for id, cs := range want {
		for i, c := range cs {
			b, err := s.AttachmentChunk(ctx, id, int64(i))
			if err != nil || string(b) != c {
				t.Errorf("AttachmentChunk(%q, %d) = %q, %v; want %q", id, i, b, err, c)
			}
		}
	}
	list, err := s.Attachments(ctx, "e")
	if err != nil || len(list) != 3 || list[0].Name != "one" || list[0].Chunks != 3 || !bytes.Equal(list[0].Header, []byte("HD")) {
		t.Errorf("Attachments() after the migration = %+v, %v", list, err)
	}
	if got, want := attachmentFiles(t, s), []string{"a1", "empty", "~69643a6f64642f6964"}; !slices.Equal(got, want) {
		t.Errorf("files after the migration = %v, want %v (no pending upload)", got, want)
	}
	var tables int
	if err := s.read.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'attachment_chunks'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("attachment_chunks still there: %d, %v", tables, err)
	}
}

// TestMigrateRefusesDamagedAttachment: an attachment whose chunks cannot
// be laid out in a file stops the migration, naming it, with the chunks
// still in the database and no file left behind.
func TestMigrateRefusesDamagedAttachment(t *testing.T) {
	for _, c := range []struct {
		name  string
		stmts []string
	}{
		{"missing chunk", append(v1Attachment("bad", "n", "aaaa", "bbbb", "cc"),
			"DELETE FROM attachment_chunks WHERE attachment_id = 'bad' AND idx = 1")},
		{"uneven chunks", v1Attachment("bad", "n", "aaaa", "bb", "cc")},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keyward.db")
			schemaV1(t, path, append(v1Attachment("good", "g", "1111", "2"), c.stmts...)...)
			_, err := Open(t.Context(), path)
			if err == nil || !strings.Contains(err.Error(), "attachment bad") {
				t.Fatalf("Open() = %v, want an error naming attachment bad", err)
			}
			if left, _ := os.ReadDir(filepath.Join(dir, AttachmentsDir)); len(left) != 0 {
				t.Errorf("files left by the failed migration: %v", left)
			}
			var n int
			rawQuery(t, path, "SELECT count(*) FROM attachment_chunks", &n)
			if n < 4 {
				t.Errorf("%d chunk rows after the failed migration, want them kept", n)
			}
		})
	}
}

// rawQuery scans one row of a query on the file, outside any Store.
func rawQuery(t *testing.T, path, query string, dest ...any) {
	t.Helper()
	db := rawOpen(t, path)
	defer db.Close()
	if err := db.QueryRow(query).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestMigrateRevisionFloor opens a file at schema 7 and checks that
// migration 8 starts each database's revisions above the highest one it
// stores (revisions deleted before it are not known), and that entries
// created afterwards, and after deletes, start above the floor.
func TestMigrateRevisionFloor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	stmts := append(schemaUpTo(t, 7), "INSERT INTO databases VALUES ('db', 'db', 0), ('other', 'other', 0), ('empty', 'empty', 0)",
		`INSERT INTO entries (id, database_id, path, type, created, updated, revision, key_version, ciphertext) VALUES
			('e1', 'db', 'p1', '', 0, 0, 4, 1, x'00'), ('e2', 'db', 'p2', '', 0, 0, 9, 1, x'00'),
			('e3', 'other', 'p1', '', 0, 0, 2, 1, x'00')`)
	rawExec(t, path, stmts...)

	s := openTemp(t, path)
	ctx := t.Context()
	for db, want := range map[string]int64{"db": 10, "other": 3, "empty": 1} {
		e := testEntry("new")
		e.ID, e.DatabaseID = "new-"+db, db
		got, err := s.PutEntry(ctx, e, 0)
		if err != nil || got.Revision != want {
			t.Errorf("first entry of %s after migration: revision %d, %v; want %d", db, got.Revision, err, want)
		}
	}
	if err := s.DeleteEntry(ctx, "db", "p2", 9); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntry(ctx, "db", "new", store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	e := testEntry("p2")
	e.ID = "again"
	if got, err := s.PutEntry(ctx, e, 0); err != nil || got.Revision != 11 {
		t.Errorf("entry after deleting revision 10: revision %d, %v; want 11", got.Revision, err)
	}
}

// schemaUpTo returns the statements that build an empty file at schema
// version n: migrations 1 to n and their schema_migrations rows.
func schemaUpTo(t *testing.T, n int) []string {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL) STRICT"}
	for _, m := range ms[:n] {
		stmts = append(stmts, m.sql, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, 0)", m.version))
	}
	return stmts
}
