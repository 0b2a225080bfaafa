package keyward_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/keyring"
)

// blobs returns every slot blob and wrapped data key, to see what changed.
func blobs(t *testing.T, cfg keyward.Config) map[string]string {
	t.Helper()
	raw := rawDB(t, cfg)
	out := map[string]string{}
	for _, q := range []string{`SELECT 'slot ' || id, blob FROM slots`, `SELECT 'key ' || database_id || ' ' || version, wrapped FROM data_keys`} {
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			var v []byte
			rows.Scan(&k, &v)
			out[k] = string(v)
		}
		rows.Close()
	}
	return out
}

func TestRotateRoot(t *testing.T) {
	kw, cfg, res := setup(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		db := mustDB(t, kw, n)
		if _, err := db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"f": n}}); err != nil {
			t.Fatal(err)
		}
	}
	before := blobs(t, cfg)

	// Without the recovery key, the recovery slot cannot wrap: refused.
	_, err := kw.RotateRoot(ctx, keyward.RotateOptions{})
	var re *keyring.RotateError
	if !errors.As(err, &re) || len(re.Unavailable) != 1 || re.Unavailable[0].Spec != "recovery" ||
		!strings.Contains(err.Error(), "--recovery-key-file") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("RotateRoot() without the recovery key = %v, want a RotateError naming the recovery slot", err)
	}
	if after := blobs(t, cfg); !mapsEqual(after, before) {
		t.Fatal("a refused rotation changed slots or keys")
	}

	sum, err := kw.RotateRoot(ctx, keyward.RotateOptions{RecoveryKey: res.RecoveryKey})
	if err != nil {
		t.Fatalf("RotateRoot() = %v", err)
	}
	if sum.Databases != 2 || sum.DataKeys != 2 || len(sum.Slots) != 2 || len(sum.Dropped) != 0 {
		t.Errorf("summary = %+v", sum)
	}
	after := blobs(t, cfg)
	for k, v := range before {
		if after[k] == v {
			t.Errorf("%s was not re-wrapped", k)
		}
	}
	// The data reads back, in this process and in a new one; the recovery
	// key still unlocks.
	for _, open := range []func() (*keyward.Keyward, error){
		func() (*keyward.Keyward, error) { return kw, nil },
		func() (*keyward.Keyward, error) { return keyward.Open(ctx, cfg) },
		func() (*keyward.Keyward, error) {
			k, err := keyward.OpenSealed(ctx, keyward.Config{DataDir: cfg.DataDir, KeyDir: t.TempDir()})
			if err == nil {
				err = k.UnlockWithRecoveryKey(ctx, res.RecoveryKey)
			}
			return k, err
		},
	} {
		k, err := open()
		if err != nil {
			t.Fatalf("open after rotation: %v", err)
		}
		db, err := k.Database(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if e, err := db.Get(ctx, "p"); err != nil || e.Fields["f"] != "b" {
			t.Errorf("Get after rotation = %v, %v", e.Fields, err)
		}
		if k != kw {
			k.Close()
		}
	}
	checkAudit(t, kw, "keys.rotate-root", "slots_unavailable", "ok")
}

func TestRotateRootDropsUnavailableSlots(t *testing.T) {
	env := map[string]string{"PASS": "correct horse battery staple"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	kw, cfg, _ := kwtest.Deployment(t, keyward.Config{Getenv: getenv})
	ctx := context.Background()
	if _, err := kw.AddSlot(ctx, "env:PASS", 0); err != nil {
		t.Fatal(err)
	}
	delete(env, "PASS")
	// env:PASS and recovery cannot wrap now.
	_, err := kw.RotateRoot(ctx, keyward.RotateOptions{})
	if err == nil || !strings.Contains(err.Error(), "env:PASS") || !strings.Contains(err.Error(), "--drop-unavailable-slots") {
		t.Fatalf("RotateRoot() = %v, want a refusal naming env:PASS", err)
	}
	sum, err := kw.RotateRoot(ctx, keyward.RotateOptions{DropUnavailableSlots: true})
	if err != nil {
		t.Fatalf("RotateRoot(drop) = %v", err)
	}
	if len(sum.Dropped) != 2 || !sum.RecoveryDropped || len(sum.Slots) != 1 || sum.Slots[0].Spec != "auto" {
		t.Errorf("summary = %+v, want env:PASS and recovery dropped, auto kept", sum)
	}
	slots, _ := kw.Slots(ctx)
	if len(slots) != 1 {
		t.Errorf("slots after the rotation = %+v, want only auto", slots)
	}
	// With the auto key file gone too, no slot can wrap: the last slot is
	// never dropped.
	files, _ := filepath.Glob(filepath.Join(cfg.KeyDir, "*"))
	for _, f := range files {
		os.Remove(f)
	}
	before := blobs(t, cfg)
	var re *keyring.RotateError
	if _, err := kw.RotateRoot(ctx, keyward.RotateOptions{DropUnavailableSlots: true}); !errors.As(err, &re) || !re.NoneLeft {
		t.Errorf("RotateRoot with no usable slot = %v, want a RotateError with NoneLeft", err)
	}
	if !mapsEqual(blobs(t, cfg), before) {
		t.Error("a refused rotation changed slots or keys")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkAudit fails the test unless the records of op have these results,
// in this order.
func checkAudit(t *testing.T, kw *keyward.Keyward, op string, results ...string) {
	t.Helper()
	recs, err := kw.AuditRecords(context.Background(), keyward.AuditQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Op == op {
			got = append(got, r.Result)
			if r.Actor != "library" {
				t.Errorf("record %d: actor %q, want library", r.Seq, r.Actor)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(results, ",") {
		t.Errorf("audit results of %s = %q, want %q", op, got, results)
	}
}
