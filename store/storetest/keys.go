package storetest

import (
	"errors"
	"testing"

	"github.com/keyward/keyward/store"
)

// snapshot is everything ImportKeys and ReplaceRootKey may change.
type snapshot struct {
	Slots     []store.Slot
	Databases []store.Database
	Keys      map[string][]store.DataKey
}

func takeSnapshot(t *testing.T, s store.Store) snapshot {
	t.Helper()
	ctx := t.Context()
	slots, err := s.Slots(ctx)
	if err != nil {
		t.Fatalf("Slots() = %v", err)
	}
	dbs, err := s.Databases(ctx)
	if err != nil {
		t.Fatalf("Databases() = %v", err)
	}
	snap := snapshot{Slots: slots, Databases: dbs, Keys: map[string][]store.DataKey{}}
	for _, db := range dbs {
		if snap.Keys[db.ID], err = s.DataKeys(ctx, db.ID); err != nil {
			t.Fatalf("DataKeys(%s) = %v", db.ID, err)
		}
	}
	return snap
}

func rewrapped(k store.DataKey, tag string) store.RewrappedKey {
	return store.RewrappedKey{DatabaseID: k.DatabaseID, Version: k.Version, Old: k.Wrapped, New: []byte(tag + string(k.Wrapped))}
}

func testImportKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newDB(t, s, "app")
	if _, err := s.ReserveEncryptions(ctx, app.ID, 1, 7); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.DataKeys(ctx, app.ID)
	v1 := keys[0]
	other := store.Database{ID: "id-other", Name: "other", Created: t0}
	imp := store.KeyImport{
		Create: []store.Database{other},
		Add: []store.DataKey{
			dataKey(app.ID, 2, store.KeyActive),
			dataKey(app.ID, 3, store.KeyRetired),
			dataKey(other.ID, 1, store.KeyActive),
			dataKey(other.ID, 2, store.KeyPrimary),
		},
		Replace: []store.RewrappedKey{rewrapped(v1, "new:")},
	}
	if err := s.ImportKeys(ctx, imp); err != nil {
		t.Fatalf("ImportKeys() = %v", err)
	}
	got := takeSnapshot(t, s)
	diff(t, "Databases() after ImportKeys", got.Databases, []store.Database{app, other})
	v1.Wrapped = imp.Replace[0].New // state, created and count stay
	diff(t, "DataKeys(app) after ImportKeys", got.Keys[app.ID], []store.DataKey{v1, imp.Add[0], imp.Add[1]})
	diff(t, "DataKeys(other) after ImportKeys", got.Keys[other.ID], imp.Add[2:])

	// Each refusal changes nothing, even when other parts would apply.
	before := takeSnapshot(t, s)
	stale := imp.Replace[0] // Old is no longer what is stored
	for _, c := range []struct {
		name string
		imp  store.KeyImport
		want error
	}{
		{"existing version", store.KeyImport{Add: []store.DataKey{dataKey(app.ID, 4, store.KeyActive), dataKey(app.ID, 2, store.KeyActive)}}, store.ErrExists},
		{"database id taken", store.KeyImport{Create: []store.Database{{ID: app.ID, Name: "fresh"}}, Add: []store.DataKey{dataKey(app.ID, 9, store.KeyPrimary)}}, store.ErrExists},
		{"database name taken", store.KeyImport{Create: []store.Database{{ID: "id-fresh", Name: "app"}}, Add: []store.DataKey{dataKey("id-fresh", 1, store.KeyPrimary)}}, store.ErrExists},
		{"unknown database", store.KeyImport{Add: []store.DataKey{dataKey(app.ID, 4, store.KeyActive), dataKey("no-such-db", 1, store.KeyActive)}}, store.ErrNotFound},
		{"stale replacement", store.KeyImport{Add: []store.DataKey{dataKey(app.ID, 4, store.KeyActive)}, Replace: []store.RewrappedKey{stale}}, store.ErrConflict},
		{"unknown version", store.KeyImport{Replace: []store.RewrappedKey{{DatabaseID: app.ID, Version: 9, Old: []byte("x"), New: []byte("y")}}}, store.ErrNotFound},
		{"created database without primary", store.KeyImport{Create: []store.Database{{ID: "id-fresh", Name: "fresh"}}, Add: []store.DataKey{dataKey("id-fresh", 1, store.KeyActive)}}, nil},
	} {
		err := s.ImportKeys(ctx, c.imp)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("ImportKeys(%s) = %v, want %v", c.name, err, c.want)
		}
		diff(t, "store after ImportKeys("+c.name+")", takeSnapshot(t, s), before)
	}

	// A primary added to an existing database demotes its primary.
	if err := s.ImportKeys(ctx, store.KeyImport{Add: []store.DataKey{dataKey(other.ID, 3, store.KeyPrimary)}}); err != nil {
		t.Fatalf("ImportKeys(primary) = %v", err)
	}
	keys, _ = s.DataKeys(ctx, other.ID)
	if len(keys) != 3 || keys[1].State != store.KeyActive || keys[2].State != store.KeyPrimary {
		t.Errorf("DataKeys(other) after adding a primary = %+v, want versions 1, 2 active and 3 primary", keys)
	}
}

func testReplaceRootKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.Init(ctx, store.Meta{DeploymentID: "d"}, []store.Slot{
		{Priority: 10, Spec: "auto", Blob: []byte("old auto")},
		{Priority: 1 << 20, Spec: "recovery", Blob: []byte("old recovery")},
	}); err != nil {
		t.Fatalf("Init() = %v", err)
	}
	oldSlots, _ := s.Slots(ctx)
	app, other := newDB(t, s, "app"), newDB(t, s, "other")
	if err := s.AddDataKey(ctx, dataKey(app.ID, 2, store.KeyPrimary)); err != nil {
		t.Fatal(err)
	}
	var all []store.DataKey
	for _, db := range []store.Database{app, other} {
		keys, _ := s.DataKeys(ctx, db.ID)
		all = append(all, keys...)
	}
	every := func(tag string) []store.RewrappedKey {
		var out []store.RewrappedKey
		for _, k := range all {
			out = append(out, rewrapped(k, tag))
		}
		return out
	}
	newSlots := []store.Slot{
		{Priority: 10, Spec: "env:PASS", Blob: []byte("new env"), Created: t0},
		{Priority: 1 << 20, Spec: "recovery", Blob: []byte("new recovery"), Created: t0},
	}

	before := takeSnapshot(t, s)
	for _, c := range []struct {
		name  string
		slots []store.Slot
		keys  []store.RewrappedKey
		want  error
	}{
		{"a version left out", newSlots, every("new:")[1:], store.ErrConflict},
		{"a stale version", newSlots, append(every("new:")[1:], rewrapped(store.DataKey{DatabaseID: all[0].DatabaseID, Version: all[0].Version, Wrapped: []byte("stale")}, "new:")), store.ErrConflict},
		{"an unknown version", newSlots, append(every("new:"), store.RewrappedKey{DatabaseID: app.ID, Version: 9, Old: []byte("x"), New: []byte("y")}), store.ErrConflict},
		{"a version twice", newSlots, append(every("new:"), every("new:")[0]), nil},
		{"no slot", nil, every("new:"), nil},
	} {
		err := s.ReplaceRootKey(ctx, c.slots, c.keys)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("ReplaceRootKey(%s) = %v, want %v", c.name, err, c.want)
		}
		diff(t, "store after ReplaceRootKey("+c.name+")", takeSnapshot(t, s), before)
	}

	if err := s.ReplaceRootKey(ctx, newSlots, every("new:")); err != nil {
		t.Fatalf("ReplaceRootKey() = %v", err)
	}
	got := takeSnapshot(t, s)
	if len(got.Slots) != 2 {
		t.Fatalf("Slots() after ReplaceRootKey = %+v, want the 2 new ones", got.Slots)
	}
	for i, sl := range got.Slots {
		for _, old := range oldSlots {
			if sl.ID == old.ID {
				t.Errorf("new slot %q reuses the id %d of an old slot", sl.Spec, sl.ID)
			}
		}
		want := newSlots[i]
		want.ID = sl.ID
		diff(t, "slot after ReplaceRootKey", sl, want)
	}
	for _, k := range all {
		want := k
		want.Wrapped = rewrapped(k, "new:").New
		var found bool
		for _, g := range got.Keys[k.DatabaseID] {
			if g.Version == k.Version {
				found = true
				diff(t, "data key after ReplaceRootKey", g, want)
			}
		}
		if !found {
			t.Errorf("database %s key version %d gone after ReplaceRootKey", k.DatabaseID, k.Version)
		}
	}
	diff(t, "Databases() after ReplaceRootKey", got.Databases, before.Databases)
}
