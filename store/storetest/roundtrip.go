package storetest

import (
	"testing"

	"github.com/keyward/keyward/store"
)

func testRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	db := newDB(t, s, "roundtrip")
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	e := newEntry(db, "round/trip")
	e.Tags = []string{"prod", "a,b", `quo"te`, "ünïcødé", "", "[not json]", "  spaced  ", "<html>&"}
	e.Type = "type with spaces/and ünicode"
	e.KeyVersion = 4294967295
	e.Ciphertext = all
	got := put(t, s, e, 0)
	stored, err := s.Entry(ctx, db.ID, e.Path)
	if err != nil {
		t.Fatalf("Entry() = %v", err)
	}
	diff(t, "Entry()", stored, got)
	checkUTC(t, "Entry() times", stored.Created, stored.Updated)
	diff(t, "Entry().Tags (order kept)", stored.Tags, e.Tags)
	diff(t, "Entry().Ciphertext", stored.Ciphertext, all)
	list, _ := s.Entries(ctx, db.ID, "round/", "", 0)
	if len(list) != 1 {
		t.Fatalf("Entries() = %d entries, want 1", len(list))
	}
	diff(t, "Entries()[0].Tags", list[0].Tags, e.Tags)

	bare := newEntry(db, "bare")
	bare.Tags, bare.Type, bare.Ciphertext = nil, "", nil
	got = put(t, s, bare, 0)
	stored, _ = s.Entry(ctx, db.ID, bare.Path)
	diff(t, "Entry() with no tags, type or ciphertext", stored, got)
	if len(stored.Tags) != 0 || len(stored.Ciphertext) != 0 || stored.Type != "" {
		t.Errorf("Entry() = %+v, want no tags, type or ciphertext", stored)
	}

	created := t0.Add(-1) // 999 nanoseconds
	k := dataKey(db.ID, 2, store.KeyActive)
	k.Created, k.Encryptions = created, 1<<40
	if err := s.AddDataKey(ctx, k); err != nil {
		t.Fatalf("AddDataKey() = %v", err)
	}
	keys, _ := s.DataKeys(ctx, db.ID)
	if len(keys) != 2 {
		t.Fatalf("DataKeys() = %d keys, want 2", len(keys))
	}
	diff(t, "DataKeys()[1]", keys[1], k)
	checkUTC(t, "DataKeys()[1].Created", keys[1].Created)
}

func testInvalidPaths(t *testing.T, s store.Store) {
	db := newDB(t, s, "invalid")
	for _, p := range []string{"", "nul\x00byte", "bad\xffutf8"} {
		if _, err := s.PutEntry(t.Context(), newEntry(db, p), 0); err == nil {
			t.Errorf("PutEntry(path %q) = nil, want an error", p)
		}
	}
}

func testKeyUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	db, other := newDB(t, s, "usage"), newDB(t, s, "other")
	for _, k := range []store.DataKey{dataKey(db.ID, 2, store.KeyPrimary), dataKey(db.ID, 3, store.KeyActive)} {
		if err := s.AddDataKey(ctx, k); err != nil {
			t.Fatalf("AddDataKey(%d) = %v", k.Version, err)
		}
	}
	var es []store.Entry
	for i, v := range []uint32{1, 1, 2, 1, 2} {
		e := newEntry(db, "e"+string(rune('0'+i)))
		e.KeyVersion = v
		es = append(es, put(t, s, e, 0))
	}
	att := func(e store.Entry, name string, v uint32) store.Attachment {
		return store.Attachment{ID: e.ID + "/" + name, EntryID: e.ID, Name: name, KeyVersion: v}
	}
	upload(t, s, att(es[0], "a", 1), chunks("x", 1, 10))
	upload(t, s, att(es[2], "a", 2), chunks("x", 1, 10))
	upload(t, s, att(es[2], "b", 2), chunks("x", 1, 10))
	// Neither a pending attachment nor another database counts.
	w, err := s.BeginAttachment(ctx, att(es[1], "pending", 2))
	if err != nil {
		t.Fatalf("BeginAttachment() = %v", err)
	}
	defer w.Abort(ctx)
	if err := w.WriteChunk(ctx, 0, []byte("x")); err != nil {
		t.Fatalf("WriteChunk() = %v", err)
	}
	o := put(t, s, newEntry(other, "o"), 0)
	upload(t, s, att(o, "a", 1), chunks("x", 1, 10))

	got, err := s.KeyUsage(ctx, db.ID)
	if err != nil {
		t.Fatalf("KeyUsage() = %v", err)
	}
	diff(t, "KeyUsage()", got, []store.KeyUsage{
		{Version: 1, Entries: 3, Attachments: 1},
		{Version: 2, Entries: 2, Attachments: 2},
		{Version: 3},
	})
	if got, err := s.KeyUsage(ctx, "no-such-db"); err != nil || len(got) != 0 {
		t.Errorf("KeyUsage(unknown database) = %v, %v; want nothing", got, err)
	}
	if err := s.DeleteEntry(ctx, db.ID, es[2].Path, store.AnyRevision); err != nil {
		t.Fatalf("DeleteEntry() = %v", err)
	}
	got, _ = s.KeyUsage(ctx, db.ID)
	diff(t, "KeyUsage() after deleting an entry", got, []store.KeyUsage{
		{Version: 1, Entries: 3, Attachments: 1},
		{Version: 2, Entries: 1},
		{Version: 3},
	})
}
