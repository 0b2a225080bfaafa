package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/store"
)

func rec(op, target string) audit.Record {
	return audit.Record{Time: t0, Actor: "local:test", Op: op, Target: target, Result: audit.ResultOK}
}

// chainOK reads the whole log and fails the test unless it is a valid
// chain of n records ending at the head.
func chainOK(t *testing.T, s store.Store, n int64) []audit.Record {
	t.Helper()
	var all []audit.Record
	var v audit.Verifier
	for after := int64(0); ; {
		rs, err := s.AuditRecords(t.Context(), after, 7)
		if err != nil {
			t.Fatalf("AuditRecords(%d, 7) = %v", after, err)
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			v.Next(r)
		}
		all = append(all, rs...)
		after = rs[len(rs)-1].Seq
	}
	head, err := s.AuditHead(t.Context())
	if err != nil {
		t.Fatalf("AuditHead() = %v", err)
	}
	if err := v.Finish(head); err != nil {
		t.Errorf("the chain does not verify: %v (%q)", err, v.Problems())
	}
	if int64(len(all)) != n || head.Seq != n {
		t.Errorf("log has %d records, head %d; want %d", len(all), head.Seq, n)
	}
	return all
}

func testAuditAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	if h, err := s.AuditHead(ctx); err != nil || h.Seq != 0 {
		t.Fatalf("AuditHead() of an empty log = %v, %v; want the zero head", h, err)
	}
	var appended []audit.Record
	for i := range 20 {
		r := rec("slot.add", fmt.Sprint(i))
		if i == 3 {
			r.Result = "sealed"
			r.Time = t0.Add(1)
		}
		got, err := s.AppendAudit(ctx, r)
		if err != nil {
			t.Fatalf("AppendAudit(%d) = %v", i, err)
		}
		if got.Seq != int64(i+1) || len(got.Hash) != audit.HashSize {
			t.Errorf("AppendAudit(%d): seq %d, hash %d bytes; want seq %d and a hash", i, got.Seq, len(got.Hash), i+1)
		}
		appended = append(appended, got)
	}
	all := chainOK(t, s, 20)
	diff(t, "AuditRecords", all, appended)
	if !bytes.Equal(all[0].Prev, audit.Genesis()) {
		t.Errorf("record 1's prev = %x, want zeros", all[0].Prev)
	}
	checkUTC(t, "record time", all[3].Time)
	if !all[3].Time.Equal(t0.Add(1)) || all[3].Result != "sealed" || all[3].Target != "3" {
		t.Errorf("record 4 = %+v, want the time, result and target given", all[3])
	}
	if rs, err := s.AuditRecords(ctx, 18, 0); err != nil || len(rs) != 2 || rs[0].Seq != 19 {
		t.Errorf("AuditRecords(18, 0) = %d records, %v; want 19 and 20", len(rs), err)
	}
	zero, err := s.AppendAudit(ctx, audit.Record{Actor: "a", Op: "b", Result: "ok"})
	if err != nil {
		t.Fatalf("AppendAudit(zero time) = %v", err)
	}
	checkRecent(t, "zero time", zero.Time)
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.AppendAudit(t.Context(), rec("token.create", fmt.Sprintf("%d-%d", w, i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendAudit = %v", err)
	}
	chainOK(t, s, writers*each)
}

func testAuditRefused(t *testing.T, s store.Store) {
	for _, r := range []audit.Record{
		{Actor: "", Op: "x", Result: "ok"},
		{Actor: "a", Op: "", Result: "ok"},
		{Actor: "a", Op: "x", Result: ""},
		{Actor: "a\n", Op: "x", Result: "ok"},
		{Actor: "a", Op: "x", Target: string(make([]byte, 2000)), Result: "ok"},
	} {
		if _, err := s.AppendAudit(t.Context(), r); err == nil {
			t.Errorf("AppendAudit(%+v) = nil, want an error", r)
		}
	}
	chainOK(t, s, 0)
}

// rewrapFixture makes two databases with two data keys each and two slots.
func rewrapFixture(t *testing.T, s store.Store) ([]store.Slot, []store.DataKey) {
	t.Helper()
	ctx := t.Context()
	if err := s.Init(ctx, store.Meta{DeploymentID: "dep", Created: t0}, []store.Slot{
		{Priority: 10, Spec: "auto", Blob: []byte("blob-a")},
		{Priority: 20, Spec: "recovery", Blob: []byte("blob-r")},
	}); err != nil {
		t.Fatalf("Init = %v", err)
	}
	var keys []store.DataKey
	for _, name := range []string{"one", "two"} {
		db := newDB(t, s, name)
		if err := s.AddDataKey(ctx, dataKey(db.ID, 2, store.KeyPrimary)); err != nil {
			t.Fatalf("AddDataKey = %v", err)
		}
		ks, err := s.DataKeys(ctx, db.ID)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ks...)
	}
	slots, err := s.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return slots, keys
}

func fullRewrap(slots []store.Slot, keys []store.DataKey) store.Rewrap {
	var r store.Rewrap
	for _, sl := range slots {
		r.Slots = append(r.Slots, store.SlotBlob{ID: sl.ID, Old: sl.Blob, New: append([]byte("new-"), sl.Blob...)})
	}
	for _, k := range keys {
		r.Keys = append(r.Keys, store.KeyBlob{DatabaseID: k.DatabaseID, Version: k.Version, Old: k.Wrapped, New: append([]byte("new-"), k.Wrapped...)})
	}
	return r
}

// allKeys returns every data key of the fixture's databases.
func allKeys(t *testing.T, s store.Store) []store.DataKey {
	t.Helper()
	var out []store.DataKey
	for _, id := range []string{"id-one", "id-two"} {
		ks, err := s.DataKeys(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ks...)
	}
	return out
}

func testRewrapAll(t *testing.T, s store.Store) {
	ctx := t.Context()
	slots, keys := rewrapFixture(t, s)
	r := fullRewrap(slots[:1], keys)
	r.Drop = []int64{slots[1].ID}
	a := rec("keys.rotate-root", "")
	r.Audit = &a
	if err := s.RewrapAll(ctx, r); err != nil {
		t.Fatalf("RewrapAll = %v", err)
	}
	gotSlots, _ := s.Slots(ctx)
	if len(gotSlots) != 1 || string(gotSlots[0].Blob) != "new-blob-a" {
		t.Errorf("slots after RewrapAll = %+v, want only slot %d with the new blob", gotSlots, slots[0].ID)
	}
	for i, k := range allKeys(t, s) {
		want := keys[i]
		if string(k.Wrapped) != "new-"+string(want.Wrapped) || k.State != want.State || k.Version != want.Version {
			t.Errorf("data key %s v%d after RewrapAll = %q %v, want %q %v", k.DatabaseID, k.Version, k.Wrapped, k.State, "new-"+string(want.Wrapped), want.State)
		}
	}
	if rs := chainOK(t, s, 1); len(rs) == 1 && rs[0].Op != "keys.rotate-root" {
		t.Errorf("audit record = %+v, want the rotation's", rs[0])
	}
}

func testRewrapConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	slots, keys := rewrapFixture(t, s)
	stale := func(r *store.Rewrap) { r.Keys[len(r.Keys)-1].Old = []byte("not what is stored") }
	cases := []struct {
		name string
		edit func(r *store.Rewrap)
	}{
		{"the last key changed (after the others were updated)", stale},
		{"a key is missing from the request", func(r *store.Rewrap) { r.Keys = r.Keys[:len(r.Keys)-1] }},
		{"a slot is missing from the request", func(r *store.Rewrap) { r.Slots = r.Slots[:1] }},
		{"a slot changed", func(r *store.Rewrap) { r.Slots[1].Old = []byte("x") }},
		{"a dropped slot does not exist", func(r *store.Rewrap) { r.Drop = []int64{999} }},
		{"the audit record is invalid", func(r *store.Rewrap) { r.Audit = &audit.Record{} }},
	}
	for _, tc := range cases {
		r := fullRewrap(slots, keys)
		tc.edit(&r)
		err := s.RewrapAll(ctx, r)
		if err == nil {
			t.Errorf("%s: RewrapAll = nil, want an error", tc.name)
		}
		if tc.name != "the audit record is invalid" && !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: RewrapAll = %v, want ErrConflict", tc.name, err)
		}
		gotSlots, _ := s.Slots(ctx)
		diff(t, tc.name+": slots", gotSlots, slots)
		diff(t, tc.name+": data keys", allKeys(t, s), keys)
		chainOK(t, s, 0)
	}
	// A key added after the rotation read the keys makes it fail too.
	if err := s.AddDataKey(ctx, dataKey("id-one", 3, store.KeyActive)); err != nil {
		t.Fatal(err)
	}
	if err := s.RewrapAll(ctx, fullRewrap(slots, keys)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("RewrapAll after a key was added = %v, want ErrConflict", err)
	}
	if got := allKeys(t, s); string(got[0].Wrapped) != string(keys[0].Wrapped) {
		t.Errorf("data key 1 = %q after a refused RewrapAll, want it unchanged", got[0].Wrapped)
	}
}
