package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
)

func testPutEntry(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "put")
	e := newEntry(db, "app/db")
	e.Revision, e.Created = 42, t0 // ignored
	got := put(t, s, e, 0)
	checkUTC(t, "PutEntry().Created/Updated", got.Created, got.Updated)
	checkRecent(t, "PutEntry().Created", got.Created)
	want := e
	want.Revision, want.Created, want.Updated = 1, got.Created, got.Updated
	diff(t, "PutEntry() (create)", got, want)
	if got.Created.After(got.Updated) {
		t.Errorf("Created %v after Updated %v", got.Created, got.Updated)
	}
	stored, err := s.Entry(ctx, db.ID, e.Path)
	if err != nil {
		t.Fatalf("Entry() = %v", err)
	}
	diff(t, "Entry() after create", stored, got)

	other := e
	other.ID = "another-id"
	conflicts := []struct {
		what   string
		e      store.Entry
		expect int64
	}{
		{"create over an existing path", e, 0},
		{"create over an existing path, other ID", other, 0},
		{"update with a wrong ID", other, 1},
		{"update with a future revision", e, 2},
		{"update of a missing path", newEntry(db, "missing"), 1},
	}
	for _, c := range conflicts {
		if _, err := s.PutEntry(ctx, c.e, c.expect); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutEntry(%s) = %v, want ErrConflict", c.what, err)
		}
	}

	upd := got
	upd.Type, upd.Tags, upd.KeyVersion, upd.Ciphertext = "database", []string{"x", "y"}, 2, []byte("v2")
	upd.Created = t0 // ignored: Created is kept
	got2 := put(t, s, upd, 1)
	want = upd
	want.Revision, want.Created, want.Updated = 2, got.Created, got2.Updated
	diff(t, "PutEntry() (update)", got2, want)
	if !got2.Updated.After(got.Updated) {
		t.Errorf("Updated after update = %v, want after %v", got2.Updated, got.Updated)
	}
	if _, err := s.PutEntry(ctx, upd, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutEntry(stale revision 1) = %v, want ErrConflict", err)
	}
	stored, _ = s.Entry(ctx, db.ID, e.Path)
	diff(t, "Entry() after the conflicts", stored, got2)

	if _, err := s.PutEntry(ctx, e, store.AnyRevision); err == nil {
		t.Errorf("PutEntry(AnyRevision) = nil, want an error")
	}
	reused := newEntry(db, "elsewhere")
	reused.ID = e.ID
	if _, err := s.PutEntry(ctx, reused, 0); err == nil {
		t.Errorf("PutEntry(new path, ID of another entry) = nil, want an error")
	}
	if _, err := s.PutEntry(ctx, newEntry(store.Database{ID: "no-such-db"}, "x"), 0); err == nil {
		t.Errorf("PutEntry(unknown database) = nil, want an error")
	}
	for _, k := range [][2]string{{db.ID, "missing"}, {"no-such-db", e.Path}} {
		if _, err := s.Entry(ctx, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Entry(%q, %q) = %v, want ErrNotFound", k[0], k[1], err)
		}
	}
}

// listPaths are stored by testListEntries; "a_b" and "axb" catch a prefix
// used as a LIKE pattern, "é" paths catch character-wise comparison.
var listPaths = []string{
	"a", "a_b", "axb", "app", "app/db", "app/db/password", "app/token", "app/z",
	"app/é", "app0", "b/x", "zz", "é/x", "\U0001F511/key",
}

var listCases = []struct {
	prefix, after string
	limit         int
}{
	{"", "", 0},
	{"", "", 3},
	{"", "app/", 0},
	{"app/", "", 0},
	{"app", "", 0},
	{"a_", "", 0},
	{"app/", "app/db", 0},
	{"app/", "app/db", 2},
	{"app/", "zzz", 0},
	{"é", "", 0},
	{"\U0001F511", "", -1},
	{"nothing", "", 0},
}

func testListEntries(t *testing.T, s store.Store) {
	ctx := t.Context()
	db, other := newDB(t, s, "list"), newDB(t, s, "other")
	stored := map[string]store.Entry{}
	for _, p := range slices.Backward(listPaths) {
		stored[p] = put(t, s, newEntry(db, p), 0)
	}
	put(t, s, newEntry(other, "app/other"), 0)
	sorted := slices.Sorted(slices.Values(listPaths)) // bytewise
	for _, c := range listCases {
		var want []string
		for _, p := range sorted {
			if strings.HasPrefix(p, c.prefix) && p > c.after && (c.limit <= 0 || len(want) < c.limit) {
				want = append(want, p)
			}
		}
		got, err := s.Entries(ctx, db.ID, c.prefix, c.after, c.limit)
		if err != nil {
			t.Fatalf("Entries(%q, %q, %d) = %v", c.prefix, c.after, c.limit, err)
		}
		var paths []string
		for _, e := range got {
			paths = append(paths, e.Path)
			w := stored[e.Path]
			w.Ciphertext = nil
			diff(t, "Entries() item "+e.Path+" (no ciphertext)", e, w)
			if e.Ciphertext != nil {
				t.Errorf("Entries() item %q has a ciphertext", e.Path)
			}
		}
		diff(t, "Entries("+c.prefix+", "+c.after+") paths", paths, want)
	}
}

func testPaginate(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "pages")
	var want []string
	for _, p := range listPaths {
		put(t, s, newEntry(db, "dir/"+p), 0)
		want = append(want, "dir/"+p)
	}
	put(t, s, newEntry(db, "dis"), 0)
	put(t, s, newEntry(db, "dir0"), 0)
	slices.Sort(want)
	var got []string
	after := ""
	for page := 0; ; page++ {
		es, err := s.Entries(ctx, db.ID, "dir/", after, 3)
		if err != nil {
			t.Fatalf("Entries(page %d) = %v", page, err)
		}
		if len(es) > 3 || page > len(want) {
			t.Fatalf("Entries(page %d) returned %d entries, want at most 3", page, len(es))
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			got = append(got, e.Path)
		}
		after = es[len(es)-1].Path
	}
	diff(t, "paginated paths", got, want)
}

func testDeleteEntry(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "delete")
	e := newEntry(db, "gone/soon")
	put(t, s, put(t, s, e, 0), 1)
	if err := s.DeleteEntry(ctx, db.ID, e.Path, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("DeleteEntry(stale revision) = %v, want ErrConflict", err)
	}
	if _, err := s.Entry(ctx, db.ID, e.Path); err != nil {
		t.Fatalf("Entry() after a failed delete = %v", err)
	}
	if err := s.DeleteEntry(ctx, db.ID, e.Path, 2); err != nil {
		t.Fatalf("DeleteEntry(revision 2) = %v", err)
	}
	if _, err := s.Entry(ctx, db.ID, e.Path); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry() after delete = %v, want ErrNotFound", err)
	}
	for _, rev := range []int64{2, store.AnyRevision} {
		if err := s.DeleteEntry(ctx, db.ID, e.Path, rev); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteEntry(deleted, %d) = %v, want ErrNotFound", rev, err)
		}
	}
	// A new entry at a deleted path starts above every revision deleted
	// from the database, so that a compare-and-swap meant for the old
	// entry cannot match the new one.
	again := put(t, s, e, 0)
	if again.Revision != 3 {
		t.Errorf("PutEntry() after deleting revision 2: revision %d, want 3", again.Revision)
	}
	other := e
	other.ID, other.Path = "other-id", e.Path+"-other"
	if got := put(t, s, other, 0); got.Revision != 3 {
		t.Errorf("PutEntry() of a new path after deleting revision 2: revision %d, want 3", got.Revision)
	}
	if err := s.DeleteEntry(ctx, db.ID, other.Path, 3); err != nil {
		t.Fatalf("DeleteEntry(other) = %v", err)
	}
	elsewhere := newEntry(newDB(t, s, "delete-elsewhere"), e.Path)
	if got := put(t, s, elsewhere, 0); got.Revision != 1 {
		t.Errorf("PutEntry() in another database: revision %d, want 1 (the floor is per database)", got.Revision)
	}
	if err := s.DeleteEntry(ctx, db.ID, e.Path, store.AnyRevision); err != nil {
		t.Fatalf("DeleteEntry(AnyRevision) = %v", err)
	}
	if _, err := s.Entry(ctx, db.ID, e.Path); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry() after DeleteEntry(AnyRevision) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteEntry(ctx, "no-such-db", e.Path, store.AnyRevision); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteEntry(unknown database) = %v, want ErrNotFound", err)
	}
}
