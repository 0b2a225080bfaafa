package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/keyward/keyward/store"
)

func testInitMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Meta(ctx); !errors.Is(err, store.ErrNotInitialized) {
		t.Fatalf("Meta() before Init: err = %v, want ErrNotInitialized", err)
	}
	m := store.Meta{DeploymentID: "deployment-0123", Created: t0}
	if err := s.Init(ctx, m, []store.Slot{{Priority: 1, Spec: "auto", Blob: []byte{1, 2, 3}}}); err != nil {
		t.Fatalf("Init() = %v", err)
	}
	got, err := s.Meta(ctx)
	if err != nil {
		t.Fatalf("Meta() = %v", err)
	}
	if got.SchemaVersion <= 0 {
		t.Errorf("Meta().SchemaVersion = %d, want > 0", got.SchemaVersion)
	}
	checkUTC(t, "Meta().Created", got.Created)
	m.SchemaVersion = got.SchemaVersion
	diff(t, "Meta()", got, m)

	err = s.Init(ctx, store.Meta{DeploymentID: "other"}, []store.Slot{{Spec: "recovery"}})
	if !errors.Is(err, store.ErrAlreadyInitialized) {
		t.Errorf("second Init() = %v, want ErrAlreadyInitialized", err)
	}
	again, _ := s.Meta(ctx)
	diff(t, "Meta() after second Init", again, got)
	if slots, _ := s.Slots(ctx); len(slots) != 1 {
		t.Errorf("Slots() after second Init: %d slots, want 1 (the failed Init must add none)", len(slots))
	}
}

func testSlots(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Init(ctx, store.Meta{DeploymentID: "d"}, []store.Slot{
		{Priority: 10, Spec: "auto", Blob: []byte("auto blob")},
		{Priority: 0, Spec: "recovery", Blob: []byte("recovery blob")},
	})
	if err != nil {
		t.Fatalf("Init() = %v", err)
	}
	initial, err := s.Slots(ctx)
	if err != nil || len(initial) != 2 {
		t.Fatalf("Slots() = %d slots, %v; want 2", len(initial), err)
	}
	recovery, auto := initial[0], initial[1]
	if recovery.Spec != "recovery" || auto.Spec != "auto" || recovery.ID == auto.ID || recovery.ID == 0 || auto.ID == 0 {
		t.Fatalf("Slots() = %+v, want recovery then auto, with distinct IDs", initial)
	}
	checkUTC(t, "slot Created", recovery.Created, auto.Created)
	checkRecent(t, "slot Created", auto.Created)

	env, err := s.AddSlot(ctx, store.Slot{Priority: 10, Spec: "env:KW", Blob: []byte("env blob"), Created: t0})
	if err != nil {
		t.Fatalf("AddSlot(env) = %v", err)
	}
	diff(t, "AddSlot(env)", env, store.Slot{ID: env.ID, Priority: 10, Spec: "env:KW", Blob: []byte("env blob"), Created: t0})
	file, err := s.AddSlot(ctx, store.Slot{Priority: 5, Spec: "file:/k", Blob: []byte("file blob")})
	if err != nil {
		t.Fatalf("AddSlot(file) = %v", err)
	}
	checkRecent(t, "AddSlot(file).Created", file.Created)
	if ids := []int64{recovery.ID, auto.ID, env.ID, file.ID}; len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
		t.Errorf("slot IDs %v, want distinct", ids)
	}

	got, _ := s.Slots(ctx)
	diff(t, "Slots() (by priority, then ID)", got, []store.Slot{recovery, file, auto, env})

	if err := s.DeleteSlot(ctx, auto.ID, file.ID); err != nil {
		t.Fatalf("DeleteSlot(auto, keeping file) = %v", err)
	}
	got, _ = s.Slots(ctx)
	diff(t, "Slots() after DeleteSlot", got, []store.Slot{recovery, file, env})
	for _, id := range []int64{auto.ID, -5} {
		if err := s.DeleteSlot(ctx, id, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSlot(%d) = %v, want ErrNotFound", id, err)
		}
	}
	// The slot to keep must still exist, and be another slot.
	for _, keep := range []int64{auto.ID, env.ID} {
		if err := s.DeleteSlot(ctx, env.ID, keep); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteSlot(env, keeping %d) = %v, want ErrConflict", keep, err)
		}
	}
	got, _ = s.Slots(ctx)
	diff(t, "Slots() after refused deletes", got, []store.Slot{recovery, file, env})
}

func testDatabases(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := newDB(t, s, "b")
	a := store.Database{ID: "id-a", Name: "a"}
	if err := s.CreateDatabase(ctx, a, dataKey(a.ID, 1, store.KeyPrimary)); err != nil {
		t.Fatalf("CreateDatabase(a) = %v", err)
	}
	err := s.CreateDatabase(ctx, store.Database{ID: "id-b2", Name: "b"}, dataKey("id-b2", 1, store.KeyPrimary))
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateDatabase(b again) = %v, want ErrExists", err)
	}
	if err := s.CreateDatabase(ctx, store.Database{ID: "id-x", Name: "x"}, dataKey("id-x", 1, store.KeyActive)); err == nil {
		t.Errorf("CreateDatabase with an active first key = nil, want an error")
	}
	for _, name := range []string{"x", "nope"} {
		if _, err := s.Database(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Database(%q) = %v, want ErrNotFound", name, err)
		}
	}

	got, err := s.Database(ctx, "b")
	if err != nil {
		t.Fatalf("Database(b) = %v", err)
	}
	diff(t, "Database(b)", got, b)
	checkUTC(t, "Database(b).Created", got.Created)
	gotA, err := s.Database(ctx, "a")
	if err != nil {
		t.Fatalf("Database(a) = %v", err)
	}
	checkRecent(t, "Database(a).Created (zero given)", gotA.Created)
	all, err := s.Databases(ctx)
	if err != nil {
		t.Fatalf("Databases() = %v", err)
	}
	diff(t, "Databases()", all, []store.Database{gotA, b})

	keys, err := s.DataKeys(ctx, b.ID)
	if err != nil {
		t.Fatalf("DataKeys() = %v", err)
	}
	diff(t, "DataKeys(b)", keys, []store.DataKey{dataKey(b.ID, 1, store.KeyPrimary)})
}

func testDataKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "keys")
	add := func(v uint32, st store.KeyState) error { return s.AddDataKey(ctx, dataKey(db.ID, v, st)) }
	if err := add(2, store.KeyActive); err != nil {
		t.Fatalf("AddDataKey(2, active) = %v", err)
	}
	if err := add(3, store.KeyPrimary); err != nil {
		t.Fatalf("AddDataKey(3, primary) = %v", err)
	}
	want := []store.DataKey{
		dataKey(db.ID, 1, store.KeyActive), // demoted
		dataKey(db.ID, 2, store.KeyActive),
		dataKey(db.ID, 3, store.KeyPrimary),
	}
	got, _ := s.DataKeys(ctx, db.ID)
	diff(t, "DataKeys() after adding a primary", got, want)

	if err := add(2, store.KeyPrimary); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddDataKey(2) again = %v, want ErrExists", err)
	}
	got, _ = s.DataKeys(ctx, db.ID)
	diff(t, "DataKeys() after a duplicate (nothing demoted)", got, want)

	if err := add(5, store.KeyRetired); err != nil {
		t.Fatalf("AddDataKey(5) = %v", err)
	}
	if err := add(4, store.KeyActive); err != nil {
		t.Fatalf("AddDataKey(4) = %v", err)
	}
	got, _ = s.DataKeys(ctx, db.ID)
	want = append(want, dataKey(db.ID, 4, store.KeyActive), dataKey(db.ID, 5, store.KeyRetired))
	diff(t, "DataKeys() (by version)", got, want)

	if err := s.AddDataKey(ctx, dataKey("no-such-db", 1, store.KeyPrimary)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddDataKey(unknown database) = %v, want ErrNotFound", err)
	}
	if err := add(6, 0); err == nil {
		t.Errorf("AddDataKey(state 0) = nil, want an error")
	}
}

func testReserveEncryptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "reserve")
	for _, step := range []struct{ n, want uint64 }{{10, 10}, {5, 15}} {
		if got, err := s.ReserveEncryptions(ctx, db.ID, 1, step.n); err != nil || got != step.want {
			t.Fatalf("ReserveEncryptions(%d) = %d, %v; want %d", step.n, got, err, step.want)
		}
	}
	const workers, each = 8, 10
	var (
		mu   sync.Mutex
		seen = map[uint64]bool{}
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := s.ReserveEncryptions(ctx, db.ID, 1, 2)
				if err != nil {
					t.Errorf("ReserveEncryptions() = %v", err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("ReserveEncryptions() returned %d twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	keys, _ := s.DataKeys(ctx, db.ID)
	if want := uint64(15 + workers*each*2); len(keys) != 1 || keys[0].Encryptions != want {
		t.Errorf("DataKeys() = %+v, want Encryptions %d", keys, want)
	}
	for _, k := range []struct {
		db string
		v  uint32
	}{{db.ID, 9}, {"no-such-db", 1}} {
		if _, err := s.ReserveEncryptions(ctx, k.db, k.v, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReserveEncryptions(%q, %d) = %v, want ErrNotFound", k.db, k.v, err)
		}
	}
}

func testAllDataKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.Init(ctx, store.Meta{DeploymentID: "d"}, []store.Slot{{Spec: "auto", Blob: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AllDataKeys(ctx); err != nil || len(got) != 0 {
		t.Fatalf("AllDataKeys() with no database = %v, %v; want none", got, err)
	}
	var want []store.DataKey
	for _, id := range []string{"db-b", "db-a"} {
		if err := s.CreateDatabase(ctx, store.Database{ID: id, Name: "n" + id}, store.DataKey{Version: 1, State: store.KeyPrimary, Wrapped: []byte(id + "1")}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddDataKey(ctx, store.DataKey{DatabaseID: id, Version: 2, State: store.KeyPrimary, Wrapped: []byte(id + "2")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"db-a", "db-b"} {
		keys, err := s.DataKeys(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, keys...)
	}
	got, err := s.AllDataKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "AllDataKeys()", got, want)
}
