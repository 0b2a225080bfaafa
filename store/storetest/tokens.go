package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.Tokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Tokens() on an empty store = %v, %v; want none", got, err)
	}
	admin := store.Token{ID: "tok-a", Name: "first admin", Role: "admin", Hash: []byte("hash-a"), Created: t0}
	scoped := store.Token{ID: "tok-b", Role: "reader", Databases: []string{"prod", "app"}, Hash: []byte("hash-b"),
		Created: t0.Add(time.Second), Expires: t0.Add(time.Hour + 7)}
	for _, tok := range []store.Token{admin, scoped} {
		got, err := s.CreateToken(ctx, tok)
		if err != nil {
			t.Fatalf("CreateToken(%s) = %v", tok.ID, err)
		}
		diff(t, "CreateToken() result", got, tok)
	}
	dup := admin
	dup.Hash = []byte("other")
	if _, err := s.CreateToken(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateToken() with a taken ID = %v, want ErrExists", err)
	}
	got, err := s.Token(ctx, "tok-b")
	if err != nil {
		t.Fatalf("Token(tok-b) = %v", err)
	}
	checkUTC(t, "token times", got.Created, got.Expires)
	diff(t, "Token(tok-b)", got, scoped)
	all, err := s.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens() = %v", err)
	}
	diff(t, "Tokens()", all, []store.Token{admin, scoped})
	if _, err := s.Token(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token(nope) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx, "tok-a"); err != nil {
		t.Fatalf("DeleteToken() = %v", err)
	}
	if err := s.DeleteToken(ctx, "tok-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteToken() = %v, want ErrNotFound", err)
	}
	if _, err := s.Token(ctx, "tok-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token() after delete = %v, want ErrNotFound", err)
	}
	for _, bad := range []store.Token{
		{Role: "admin", Hash: []byte("h")},
		{ID: "x", Hash: []byte("h")},
		{ID: "y", Role: "admin"},
	} {
		if _, err := s.CreateToken(ctx, bad); err == nil {
			t.Errorf("CreateToken(%+v) = nil error, want one (empty id, role or hash)", bad)
		}
	}
}

func testMaintenance(t *testing.T, s store.Store) {
	ctx := t.Context()
	m, err := s.Maintenance(ctx)
	if err != nil || m.Enabled || m.Reason != "" {
		t.Fatalf("Maintenance() on a new store = %+v, %v; want off", m, err)
	}
	on := store.Maintenance{Enabled: true, Reason: "moving to new disks", Since: t0}
	if got, err := s.SetMaintenance(ctx, on); err != nil {
		t.Fatalf("SetMaintenance(on) = %v", err)
	} else {
		diff(t, "SetMaintenance(on) result", got, on)
	}
	if got, err := s.Maintenance(ctx); err != nil {
		t.Fatalf("Maintenance() = %v", err)
	} else {
		checkUTC(t, "Maintenance().Since", got.Since)
		diff(t, "Maintenance() after on", got, on)
	}
	off, err := s.SetMaintenance(ctx, store.Maintenance{})
	if err != nil {
		t.Fatalf("SetMaintenance(off) = %v", err)
	}
	if off.Since.IsZero() {
		t.Errorf("SetMaintenance() with a zero Since kept it zero, want now")
	}
	if got, _ := s.Maintenance(ctx); got.Enabled || got.Reason != "" || !got.Since.Equal(off.Since) {
		t.Errorf("Maintenance() after off = %+v, want off since %v", got, off.Since)
	}
}
