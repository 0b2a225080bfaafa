package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyward/keyward/store"
)

// testRootCheck: every write of wrapped key material is refused with
// ErrRootChanged unless it carries the recorded root check value, and
// changes nothing then; Init records it, RewrapAll moves it, ReplaceRootKey
// sets it (package store, "Root key check").
func testRootCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	rootA, rootB, rootC := []byte("root-check-a...."), []byte("root-check-b...."), []byte("root-check-c....")
	if err := s.Init(ctx, store.Meta{DeploymentID: "dep", Created: t0, RootCheck: rootA},
		[]store.Slot{{Priority: 10, Spec: "auto", Blob: []byte("blob-a")}}); err != nil {
		t.Fatal(err)
	}
	recorded := func(want []byte) {
		t.Helper()
		m, err := s.Meta(ctx)
		if err != nil || !bytes.Equal(m.RootCheck, want) {
			t.Fatalf("Meta().RootCheck = %q, %v; want %q", m.RootCheck, err, want)
		}
	}
	recorded(rootA)

	db := store.Database{ID: "id-one", Name: "one", Created: t0}
	first := dataKey(db.ID, 1, store.KeyPrimary)
	type write struct {
		name string
		do   func(root []byte) error
	}
	writes := []write{
		{"CreateDatabase", func(root []byte) error {
			k := first
			k.Root = root
			return s.CreateDatabase(ctx, db, k)
		}},
		{"AddDataKey", func(root []byte) error {
			k := dataKey(db.ID, 2, store.KeyActive)
			k.Root = root
			return s.AddDataKey(ctx, k)
		}},
		{"AddSlot", func(root []byte) error {
			_, err := s.AddSlot(ctx, store.Slot{Priority: 20, Spec: "env:X", Blob: []byte("blob-x"), Root: root})
			return err
		}},
		{"ImportKeys", func(root []byte) error {
			return s.ImportKeys(ctx, store.KeyImport{Add: []store.DataKey{dataKey(db.ID, 3, store.KeyActive)}, Root: root})
		}},
	}
	state := func() string {
		var b bytes.Buffer
		slots, _ := s.Slots(ctx)
		for _, sl := range slots {
			b.WriteString(sl.Spec + ";")
		}
		dbs, _ := s.Databases(ctx)
		for _, d := range dbs {
			ks, _ := s.DataKeys(ctx, d.ID)
			b.WriteString(d.Name + ":")
			for _, k := range ks {
				b.WriteString(string(k.Wrapped) + ",")
			}
		}
		return b.String()
	}
	for _, w := range writes {
		before := state()
		if err := w.do(rootB); !errors.Is(err, store.ErrRootChanged) {
			t.Errorf("%s with another root check value = %v, want ErrRootChanged", w.name, err)
		}
		if err := w.do(nil); err == nil {
			t.Errorf("%s without a root check value succeeded, want it refused (one is recorded)", w.name)
		}
		if after := state(); after != before {
			t.Errorf("%s refused, but the store changed:\nbefore %s\nafter  %s", w.name, before, after)
		}
		if err := w.do(rootA); err != nil {
			t.Errorf("%s with the recorded root check value = %v", w.name, err)
		}
	}

	// A rotation from a stale root key is refused; one from the recorded
	// key moves the recorded value.
	slots, _ := s.Slots(ctx)
	keys, _ := s.DataKeys(ctx, db.ID)
	r := fullRewrap(slots, keys)
	r.OldRoot, r.NewRoot = rootB, rootC
	if err := s.RewrapAll(ctx, r); !errors.Is(err, store.ErrRootChanged) {
		t.Errorf("RewrapAll from a stale root = %v, want ErrRootChanged", err)
	}
	recorded(rootA)
	r.OldRoot, r.NewRoot = rootA, nil
	if err := s.RewrapAll(ctx, r); err == nil {
		t.Error("RewrapAll without a new root check value succeeded")
	}
	r.OldRoot, r.NewRoot = rootA, rootB
	if err := s.RewrapAll(ctx, r); err != nil {
		t.Fatalf("RewrapAll = %v", err)
	}
	recorded(rootB)
	k := dataKey(db.ID, 4, store.KeyActive)
	k.Root = rootA
	if err := s.AddDataKey(ctx, k); !errors.Is(err, store.ErrRootChanged) {
		t.Errorf("AddDataKey under the rotated-away root = %v, want ErrRootChanged", err)
	}
	k.Root = rootB
	if err := s.AddDataKey(ctx, k); err != nil {
		t.Errorf("AddDataKey under the new root = %v", err)
	}

	// ReplaceRootKey (a re-key) records its slots' value.
	keys, _ = s.DataKeys(ctx, db.ID)
	var rw []store.RewrappedKey
	for _, k := range keys {
		rw = append(rw, store.RewrappedKey{DatabaseID: k.DatabaseID, Version: k.Version, Old: k.Wrapped, New: append([]byte("re-"), k.Wrapped...)})
	}
	mixed := []store.Slot{{Priority: 1, Spec: "auto", Blob: []byte("n"), Root: rootC}, {Priority: 2, Spec: "recovery", Blob: []byte("r"), Root: rootA}}
	if err := s.ReplaceRootKey(ctx, mixed, rw); err == nil {
		t.Error("ReplaceRootKey with slots of different root keys succeeded")
	}
	mixed[1].Root = rootC
	if err := s.ReplaceRootKey(ctx, mixed, rw); err != nil {
		t.Fatalf("ReplaceRootKey = %v", err)
	}
	recorded(rootC)
}

// testRootCheckUnrecorded: a store with no root check value recorded (one
// initialised before it existed) takes writes without one, and records the
// first one a write carries.
func testRootCheckUnrecorded(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.Init(ctx, store.Meta{DeploymentID: "dep", Created: t0}, []store.Slot{{Priority: 10, Spec: "auto", Blob: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, s, "one") // no check value: accepted
	if m, _ := s.Meta(ctx); len(m.RootCheck) != 0 {
		t.Fatalf("Meta().RootCheck = %q, want none recorded", m.RootCheck)
	}
	k := dataKey(db.ID, 2, store.KeyActive)
	k.Root = []byte("root-check-a....")
	if err := s.AddDataKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Meta(ctx); string(m.RootCheck) != "root-check-a...." {
		t.Errorf("Meta().RootCheck = %q, want the first one a write carried", m.RootCheck)
	}
	if err := s.AddDataKey(ctx, dataKey(db.ID, 3, store.KeyActive)); err == nil {
		t.Error("AddDataKey without a check value after one was recorded succeeded")
	}
}
