package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/secret"
)

func putField(t *testing.T, db *keyward.Database, path, value string) {
	t.Helper()
	if _, err := db.Put(context.Background(), keyward.Entry{Path: path, Fields: map[string]string{"f": value}}); err != nil {
		t.Fatal(err)
	}
}

func wantField(t *testing.T, kw *keyward.Keyward, dbName, path, value string) {
	t.Helper()
	ctx := context.Background()
	db, err := kw.Database(ctx, dbName)
	if err != nil {
		t.Fatalf("Database(%s) = %v", dbName, err)
	}
	e, err := db.Get(ctx, path)
	if err != nil || e.Fields["f"] != value {
		t.Fatalf("Get(%s/%s) = %v, %v; want field f=%q", dbName, path, e.Fields, err, value)
	}
}

// TestRotateRootByAnotherProcess: process B holds the root key that
// process A rotates away. Every write B makes afterwards that stores a
// wrapped key (a new database, a new slot, a new primary data key) must
// end up under the new root key, and B must still read data keys it had
// not loaded (re-wrapped by the rotation). Before the root key check, B
// wrapped them under the old root key, which nothing can unwrap once B
// exits: the final check in a fresh process would fail.
func TestRotateRootByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"PASS": "correct horse battery staple"}
	t.Cleanup(keyward.SetJobTiming(time.Millisecond, 30*time.Second))
	a, cfg, res := setup(t)
	cfg.Getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	putField(t, mustDB(t, a, "one"), "p", "1")

	b, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wantField(t, b, "one", "p", "1") // B has this data key cached
	putField(t, mustDB(t, a, "two"), "p", "2")

	if _, err := a.RotateRoot(ctx, keyward.RotateOptions{RecoveryKey: res.RecoveryKey}); err != nil {
		t.Fatalf("RotateRoot() = %v", err)
	}

	wantField(t, b, "one", "p", "1") // cached: unaffected
	// Writes of wrapped keys first: nothing has made B notice yet.
	three, err := b.CreateDatabase(ctx, "three")
	if err != nil {
		t.Fatalf("CreateDatabase in the process with the old root key = %v", err)
	}
	putField(t, three, "p", "3")
	if _, err := b.AddSlot(ctx, "env:PASS", 0); err != nil {
		t.Fatalf("AddSlot in the process with the old root key = %v", err)
	}
	wantField(t, b, "two", "p", "2") // not cached: re-wrapped by the rotation
	// A regeneration in B: a new primary data key, everything onto it.
	job, err := b.Regenerate(ctx, keyward.RegenerateOptions{Databases: []string{"one"}, NoBackup: true})
	if err != nil {
		t.Fatalf("Regenerate in the process with the old root key = %v", err)
	}
	if err := b.RunJob(ctx, job.ID, nil); err != nil {
		t.Fatalf("RunJob = %v", err)
	}
	oneB, err := b.Database(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	putField(t, oneB, "q", "1q")
	// And a raw data key put as a new version (the import path).
	key := secret.Random(32)
	defer key.Wipe()
	if _, err := b.PutDataKey(ctx, "two", key, 0, false); err != nil {
		t.Fatalf("PutDataKey in the process with the old root key = %v", err)
	}
	a.Close()
	b.Close()

	// A fresh process unlocked by the auto key sees everything.
	c, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, w := range [][3]string{{"one", "p", "1"}, {"one", "q", "1q"}, {"two", "p", "2"}, {"three", "p", "3"}} {
		wantField(t, c, w[0], w[1], w[2])
	}
	sum, err := c.Verify(ctx, keyward.VerifyOptions{}, func(f keyward.VerifyFailure) { t.Errorf("Verify: %+v", f) })
	if err != nil || sum.Failures != 0 || sum.DataKeys != 5 {
		t.Errorf("Verify() = %+v, %v; want 5 data keys (one: 2, two: 2, three: 1) and no failure", sum, err)
	}
	// And the passphrase slot B added opens the current root key.
	cfgPass := cfg
	cfgPass.KeyDir = filepath.Join(t.TempDir(), "no-keys")
	d, err := keyward.Open(ctx, cfgPass)
	if err != nil {
		t.Fatalf("Open with only the passphrase slot B added = %v", err)
	}
	defer d.Close()
	wantField(t, d, "three", "p", "3")
}

// TestRotateRootByAnotherProcessUnreachable: B was unlocked with the
// recovery key, and A's rotation dropped the recovery slot. B cannot load
// the new root key: its writes of wrapped keys fail with a clear error and
// store nothing.
func TestRotateRootByAnotherProcessUnreachable(t *testing.T) {
	ctx := context.Background()
	a, cfg, res := setup(t)
	putField(t, mustDB(t, a, "one"), "p", "1")
	cfgB := cfg
	cfgB.KeyDir = filepath.Join(t.TempDir(), "no-keys") // the auto slot cannot open
	cfgB.RecoveryKey = res.RecoveryKey
	b, err := keyward.Open(ctx, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.RotateRoot(ctx, keyward.RotateOptions{DropUnavailableSlots: true}); err != nil {
		t.Fatal(err)
	}
	_, err = b.CreateDatabase(ctx, "two")
	if !errors.Is(err, keyring.ErrRootRotated) || !strings.Contains(err.Error(), "restart this process") {
		t.Fatalf("CreateDatabase after an unreachable rotation = %v, want ErrRootRotated saying what to do", err)
	}
	if _, err := a.Database(ctx, "two"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("the refused database exists: %v", err)
	}
	key := secret.Random(32)
	defer key.Wipe()
	if _, err := b.PutDataKey(ctx, "one", key, 0, false); !errors.Is(err, keyring.ErrRootRotated) {
		t.Errorf("PutDataKey after an unreachable rotation = %v, want ErrRootRotated", err)
	}
	// B never loaded one's data key: reading fails for B's own state, not
	// as a damaged entry.
	oneB, err := b.Database(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	_, err = oneB.Get(ctx, "p")
	if !errors.Is(err, keyward.ErrRootRotated) || errors.Is(err, keyward.ErrIntegrity) {
		t.Errorf("Get in B = %v, want ErrRootRotated, not an integrity error", err)
	}
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range st.Databases {
		if db.Name == "one" && len(db.Keys) != 1 {
			t.Errorf("database one has %d key versions after the refused PutDataKey, want 1", len(db.Keys))
		}
	}
}

// TestRotateRootByAnotherProcessConcurrent: many goroutines of B meet the
// rotated root key at once (creating databases, reading data keys B had
// not loaded); each must end up under the new root key, and the reloads
// must not deadlock or race (run with -race).
func TestRotateRootByAnotherProcessConcurrent(t *testing.T) {
	ctx := context.Background()
	a, cfg, res := setup(t)
	const n = 8
	for i := range n {
		putField(t, mustDB(t, a, fmt.Sprintf("old%d", i)), "p", fmt.Sprint(i))
	}
	b, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.RotateRoot(ctx, keyward.RotateOptions{RecoveryKey: res.RecoveryKey}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			db, err := b.CreateDatabase(ctx, fmt.Sprintf("new%d", i))
			if err == nil {
				_, err = db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"f": fmt.Sprint(i)}})
			}
			if err != nil {
				errs <- fmt.Errorf("new%d: %w", i, err)
			}
		})
		wg.Go(func() {
			db, err := b.Database(ctx, fmt.Sprintf("old%d", i))
			if err == nil {
				var e keyward.Entry
				if e, err = db.Get(ctx, "p"); err == nil && e.Fields["f"] != fmt.Sprint(i) {
					err = fmt.Errorf("field %q", e.Fields["f"])
				}
			}
			if err != nil {
				errs <- fmt.Errorf("old%d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a.Close()
	b.Close()
	c, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		wantField(t, c, fmt.Sprintf("new%d", i), "p", fmt.Sprint(i))
	}
}
