package sqlite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keyward/keyward/store"
)

// usageCounts returns entry_key_usage's non-zero rows and the same counts
// computed from the entries themselves, as "database/version=count" lines.
func usageCounts(t *testing.T, s *Store) (table, scanned []string) {
	t.Helper()
	read := func(query string) []string {
		rows, err := s.read.QueryContext(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var db string
			var v, n int64
			if err := rows.Scan(&db, &v, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s/%d=%d", db, v, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	table = read("SELECT database_id, key_version, entries FROM entry_key_usage WHERE entries > 0 ORDER BY 1, 2")
	scanned = read("SELECT database_id, key_version, count(*) FROM entries GROUP BY 1, 2 ORDER BY 1, 2")
	return table, scanned
}

// TestKeyUsageCountsFollowEveryWrite runs a random mix of every store call
// that writes entries (create, compare-and-swap updates that move an entry
// to another key version or keep it, failed compare-and-swaps, deletes,
// regeneration rewrites applied and refused) over two databases, and after
// each step compares the trigger-kept counts with a count of the rows.
func TestKeyUsageCountsFollowEveryWrite(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	dbs := []string{"db1", "db2"}
	for _, id := range dbs {
		if err := s.CreateDatabase(ctx, store.Database{ID: id, Name: id},
			store.DataKey{Version: 1, State: store.KeyPrimary, Wrapped: []byte("w")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateJob(ctx, store.Job{ID: "j", Kind: "test", State: store.JobRunning, Spec: "{}"}); err != nil {
		t.Fatal(err)
	}
	lease := store.JobLease{JobID: "j", Owner: "t"}
	if _, err := s.AcquireJob(ctx, "j", lease.Owner, time.Hour); err != nil {
		t.Fatal(err)
	}
	progress := func([]bool) store.JobProgress { return store.JobProgress{Cursor: "c"} }

	rng := rand.New(rand.NewPCG(1, 2))
	type live struct {
		db, path, id string
		rev          int64
		version      uint32
	}
	var entries []live
	kinds := map[string]int{}
	for step := range 600 {
		op := rng.IntN(6)
		if len(entries) == 0 {
			op = 0
		}
		switch op {
		case 0, 1: // create (or a create that conflicts: no row)
			db := dbs[rng.IntN(2)]
			path := fmt.Sprintf("p%03d", rng.IntN(200))
			v := uint32(1 + rng.IntN(3))
			e, err := s.PutEntry(ctx, store.Entry{ID: fmt.Sprintf("e%d", step), DatabaseID: db, Path: path, KeyVersion: v, Ciphertext: []byte("c")}, 0)
			if err == nil {
				entries = append(entries, live{db, path, e.ID, e.Revision, v})
				kinds["create"]++
			} else {
				kinds["create refused"]++
			}
		case 2: // update, maybe to another version, maybe with a stale revision
			i := rng.IntN(len(entries))
			e := entries[i]
			stale := rng.IntN(4) == 0
			expect := e.rev
			if stale {
				expect--
			}
			v := uint32(1 + rng.IntN(3))
			got, err := s.PutEntry(ctx, store.Entry{ID: e.id, DatabaseID: e.db, Path: e.path, KeyVersion: v, Ciphertext: []byte("d")}, expect)
			if stale != (err != nil) {
				t.Fatalf("step %d: update (stale %v) = %v", step, stale, err)
			}
			if err == nil {
				entries[i].rev, entries[i].version = got.Revision, v
				kinds["update"]++
			} else {
				kinds["stale update"]++
			}
		case 3: // delete
			i := rng.IntN(len(entries))
			if err := s.DeleteEntry(ctx, entries[i].db, entries[i].path, -1); err != nil {
				t.Fatalf("step %d: delete = %v", step, err)
			}
			entries = slices.Delete(entries, i, i+1)
			kinds["delete"]++
		default: // a regeneration batch; some rows with a stale revision
			var rw []store.EntryRewrite
			var idx []int
			for range 1 + rng.IntN(5) {
				i := rng.IntN(len(entries))
				if slices.Contains(idx, i) {
					continue
				}
				e := entries[i]
				rev := e.rev
				if rng.IntN(3) == 0 {
					rev++ // changed by a client meanwhile: must not apply
				}
				idx = append(idx, i)
				rw = append(rw, store.EntryRewrite{ID: e.id, Revision: rev, OldVersion: e.version, NewVersion: e.version + 1, Ciphertext: []byte("r")})
			}
			applied, err := s.RewriteEntries(ctx, lease, rw, progress)
			if err != nil {
				t.Fatalf("step %d: rewrite = %v", step, err)
			}
			for k, ok := range applied {
				if ok {
					entries[idx[k]].version++
					kinds["rewritten"]++
				} else {
					kinds["rewrite refused"]++
				}
			}
		}
		table, scanned := usageCounts(t, s)
		if d := cmp.Diff(scanned, table); d != "" {
			t.Fatalf("step %d (op %d): entry_key_usage differs from the rows (-rows +table):\n%s", step, op, d)
		}
	}
	for _, k := range []string{"create", "create refused", "update", "stale update", "delete", "rewritten", "rewrite refused"} {
		if kinds[k] == 0 {
			t.Errorf("the random mix never did %q: %v", k, kinds)
		}
	}
	// And KeyUsage reports the same.
	for _, db := range dbs {
		usage, err := s.KeyUsage(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint32]int64{}
		for _, e := range entries {
			if e.db == db {
				want[e.version]++
			}
		}
		for _, u := range usage {
			if u.Entries != want[u.Version] {
				t.Errorf("KeyUsage(%s) version %d: %d entries, want %d", db, u.Version, u.Entries, want[u.Version])
			}
			delete(want, u.Version)
		}
		for v, n := range want {
			if n > 0 {
				t.Errorf("KeyUsage(%s) lacks version %d (%d entries)", db, v, n)
			}
		}
	}
}

// TestMigrateKeyUsage opens a file at schema 5 holding entries and checks
// that migration 6 counted them, and that the index on key_version is gone
// (a regeneration must not update it: see the migration).
func TestMigrateKeyUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	stmts := append(schemaUpTo(t, 5), "INSERT INTO databases VALUES ('a', 'a', 0), ('b', 'b', 0)")
	var values []string
	for i := range 30 {
		values = append(values, fmt.Sprintf("('e%d', '%s', 'p%d', '', 0, 0, 1, %d, x'00')", i, []string{"a", "b"}[i%2], i, 1+i%3))
	}
	stmts = append(stmts, "INSERT INTO entries (id, database_id, path, type, created, updated, revision, key_version, ciphertext) VALUES "+
		strings.Join(values, ", "))
	rawExec(t, path, stmts...)

	s := openTemp(t, path)
	table, scanned := usageCounts(t, s)
	if len(scanned) != 6 {
		t.Fatalf("rows per database and version = %v, want 6 groups", scanned)
	}
	if d := cmp.Diff(scanned, table); d != "" {
		t.Errorf("entry_key_usage after migration differs from the rows (-rows +table):\n%s", d)
	}
	var n int
	if err := s.read.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema WHERE name = 'entries_key_version'").Scan(&n); err != nil || n != 0 {
		t.Errorf("index entries_key_version: %d, %v; want it dropped", n, err)
	}
	plan := queryPlan(t, s, rewriteQuery, 2, []byte{1}, "a", 1, 1)
	if strings.Contains(plan, "key_version") {
		t.Errorf("rewrite plan mentions key_version:\n%s", plan)
	}
}

// TestKeyUsageRefusesMiscount makes entry_key_usage disagree with the rows
// (as a bug or a hand edit could) and checks that a delete that would take
// a count below zero fails instead of going through.
func TestKeyUsageRefusesMiscount(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	if _, err := s.PutEntry(ctx, testEntry("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, "UPDATE entry_key_usage SET entries = 0"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntry(ctx, "db", "x", -1); err == nil || !strings.Contains(err.Error(), "CHECK") {
		t.Errorf("DeleteEntry with a miscount = %v, want the CHECK constraint to fail it", err)
	}
	if _, err := s.Entry(ctx, "db", "x"); err != nil {
		t.Errorf("the entry after the refused delete: %v", err)
	}
}
