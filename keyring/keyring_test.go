package keyring

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

var cheapKDF = &masterkey.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

type env map[string]string

func (e env) get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func sources(t *testing.T, e env) masterkey.Options {
	return masterkey.Options{KeyDir: filepath.Join(t.TempDir(), "keys"), Getenv: e.get, KDF: cheapKDF}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newKeyring initialises a store with specs and returns its unlocked keyring
// and the recovery key.
func newKeyring(t *testing.T, specs []string, src masterkey.Options, opts Options) (*Keyring, store.Store, string) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	rk, err := Init(ctx, st, specs, src)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	opts.Sources = src
	k, err := Open(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	if _, err := k.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	return k, st, rk
}

func TestInitUnlockAuto(t *testing.T) {
	src := sources(t, env{})
	k, st, rk := newKeyring(t, nil, src, Options{})
	if rk == "" || len(strings.Split(rk, "-")) != 8 {
		t.Fatalf("recovery key = %q, want 8 groups", rk)
	}
	by, ok := k.UnlockedBy()
	if !ok || by.Spec != "auto" {
		t.Fatalf("UnlockedBy = %+v, %v; want the auto slot", by, ok)
	}
	slots, _ := st.Slots(context.Background())
	if len(slots) != 2 || slots[0].Spec != "auto" || slots[1].Spec != "recovery" {
		t.Fatalf("slots = %+v, want auto then recovery", slots)
	}
	if _, err := Init(context.Background(), st, nil, src); !errors.Is(err, store.ErrAlreadyInitialized) {
		t.Fatalf("second Init = %v, want ErrAlreadyInitialized", err)
	}
}

func TestUnlockReportsEachSlotAndRecoveryWorks(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{})
	_, st, rk := newKeyring(t, []string{"auto", "env:KW_PASS"}, withEnv(src, env{"KW_PASS": "pw"}), Options{})
	// Lose every ordinary key source.
	if err := os.RemoveAll(src.KeyDir); err != nil {
		t.Fatal(err)
	}
	k, err := Open(ctx, st, Options{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	attempts, err := k.Unlock(ctx)
	var ue *UnlockError
	if !errors.As(err, &ue) || !errors.Is(err, ErrSealed) {
		t.Fatalf("Unlock = %v, want *UnlockError matching ErrSealed", err)
	}
	if len(attempts) != 3 {
		t.Fatalf("attempts = %d, want 3 (auto, env, recovery)", len(attempts))
	}
	for _, a := range attempts {
		if !errors.Is(a.Err, masterkey.ErrUnavailable) {
			t.Errorf("slot %s: err = %v, want ErrUnavailable", a.Spec, a.Err)
		}
	}
	msg := err.Error()
	for _, want := range []string{"auto", "env:KW_PASS", "KW_PASS", "recovery"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unlock error does not mention %q:\n%s", want, msg)
		}
	}
	if !k.Sealed() {
		t.Fatal("keyring unsealed after a failed unlock")
	}
	withRK := src
	withRK.RecoveryKey = func(context.Context) (string, error) { return strings.ToLower(rk), nil }
	if _, err := k.UnlockWith(ctx, withRK); err != nil {
		t.Fatalf("unlock with recovery key: %v", err)
	}
	if by, _ := k.UnlockedBy(); by.Spec != "recovery" {
		t.Fatalf("unlocked by %q, want recovery", by.Spec)
	}
}

func TestWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	src := withEnv(sources(t, env{}), env{"KW_PASS": "right"})
	_, st, _ := newKeyring(t, []string{"env:KW_PASS"}, src, Options{})
	k, _ := Open(ctx, st, Options{Sources: withEnv(src, env{"KW_PASS": "wrong"})})
	defer k.Close()
	attempts, err := k.Unlock(ctx)
	if !errors.Is(err, ErrSealed) || !errors.Is(attempts[0].Err, masterkey.ErrWrongKey) {
		t.Fatalf("Unlock = %v (slot: %v), want sealed with ErrWrongKey", err, attempts[0].Err)
	}
}

func TestSlotBlobBoundToSpec(t *testing.T) {
	ctx := context.Background()
	src := withEnv(sources(t, env{}), env{"A": "same", "B": "same"})
	k, st, _ := newKeyring(t, []string{"env:A"}, src, Options{})
	if _, err := k.AddSlot(ctx, "env:B", 0); err != nil {
		t.Fatal(err)
	}
	slots, _ := st.Slots(ctx)
	var a, b store.Slot
	for _, s := range slots {
		switch s.Spec {
		case "env:A":
			a = s
		case "env:B":
			b = s
		}
	}
	// Same passphrase, but A's blob must not open as slot B.
	if _, err := unwrapSlot(ctx, b.Spec, a.Blob, k.DeploymentID(), src); !errors.Is(err, masterkey.ErrWrongKey) {
		t.Fatalf("A's blob under B's spec: err = %v, want ErrWrongKey", err)
	}
	if _, err := unwrapSlot(ctx, a.Spec, a.Blob, "another-deployment", src); !errors.Is(err, masterkey.ErrWrongKey) {
		t.Fatalf("blob under another deployment: err = %v, want ErrWrongKey", err)
	}
}

func TestRemoveSlotKeepsOneWorking(t *testing.T) {
	ctx := context.Background()
	e := env{"KW_PASS": "pw"}
	src := withEnv(sources(t, env{}), e)
	k, st, _ := newKeyring(t, []string{"auto"}, src, Options{})
	slots, _ := st.Slots(ctx)
	auto, recovery := slots[0], slots[1]

	var last *LastSlotError
	if err := k.RemoveSlot(ctx, auto.ID); !errors.As(err, &last) {
		t.Fatalf("removing the only working slot: err = %v, want *LastSlotError", err)
	}
	if err := k.RemoveSlot(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing slot 9999: %v, want ErrNotFound", err)
	}
	if _, err := k.AddSlot(ctx, "env:KW_PASS", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddSlot(ctx, "env:KW_PASS", 0); err == nil {
		t.Fatal("adding a duplicate spec succeeded")
	}
	if err := k.RemoveSlot(ctx, auto.ID); err != nil {
		t.Fatalf("removing auto while env works: %v", err)
	}
	// Now env is the only working slot; with the passphrase gone it is not
	// working at all, so removing the recovery slot must be refused too.
	delete(e, "KW_PASS")
	if err := k.RemoveSlot(ctx, recovery.ID); !errors.As(err, &last) {
		t.Fatalf("removing recovery with no other working slot: %v", err)
	}
	slots, _ = st.Slots(ctx)
	if len(slots) != 2 {
		t.Fatalf("slots left = %d, want 2", len(slots))
	}
}

func TestAddSlotRequiresUnlock(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{})
	k, _, _ := newKeyring(t, nil, src, Options{})
	k.Seal()
	if _, err := k.AddSlot(ctx, "env:X", 0); !errors.Is(err, ErrSealed) {
		t.Fatalf("AddSlot while sealed = %v, want ErrSealed", err)
	}
}

func withEnv(o masterkey.Options, e env) masterkey.Options {
	o.Getenv = e.get
	return o
}

func createDB(t *testing.T, k *Keyring, st store.Store, id string) {
	t.Helper()
	dk, err := k.NewDatabaseKey(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDatabase(context.Background(), store.Database{ID: id, Name: id}, dk); err != nil {
		t.Fatal(err)
	}
}

func TestEncrypterCountsAndRotates(t *testing.T) {
	ctx := context.Background()
	k, st, _ := newKeyring(t, nil, sources(t, env{}), Options{RotateAfter: 5, ReserveBlock: 2})
	createDB(t, k, st, "db1")
	var versions []uint32
	for range 12 {
		d, err := k.Encrypter(ctx, "db1")
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, d.Version)
	}
	want := []uint32{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3}
	if !slices.Equal(versions, want) {
		t.Fatalf("versions = %v, want %v", versions, want)
	}
	keys, _ := st.DataKeys(ctx, "db1")
	if len(keys) != 3 || keys[0].State != store.KeyActive || keys[2].State != store.KeyPrimary {
		t.Fatalf("keys after rotation = %+v", keys)
	}
	if keys[0].Encryptions < 5 {
		t.Fatalf("v1 reserved %d encryptions, want >= 5 (it was used 5 times)", keys[0].Encryptions)
	}
}

func TestCountsSharedAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{})
	k1, st, _ := newKeyring(t, nil, src, Options{ReserveBlock: 3})
	createDB(t, k1, st, "db")
	k2, _ := Open(ctx, st, Options{Sources: src, ReserveBlock: 3})
	defer k2.Close()
	if _, err := k2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		kk := k1
		if i%2 == 1 {
			kk = k2
		}
		if _, err := kk.Encrypter(ctx, "db"); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := st.DataKeys(ctx, "db")
	if keys[0].Encryptions < 10 {
		t.Fatalf("store counts %d encryptions, want >= 10", keys[0].Encryptions)
	}
}

func TestReservationsGrowWithUse(t *testing.T) {
	ctx := context.Background()
	k, st, _ := newKeyring(t, nil, sources(t, env{}), Options{})
	createDB(t, k, st, "db")
	reserved := func() uint64 {
		keys, _ := st.DataKeys(ctx, "db")
		return keys[0].Encryptions
	}
	k.Encrypter(ctx, "db")
	if got := reserved(); got != firstReserveBlock {
		t.Fatalf("after one encryption %d reserved, want %d", got, firstReserveBlock)
	}
	for range 16 + 32 + 1 {
		k.Encrypter(ctx, "db")
	}
	// 50 encryptions: blocks of 16, 32, 64.
	if got := reserved(); got != 16+32+64 {
		t.Fatalf("after 50 encryptions %d reserved, want %d", got, 16+32+64)
	}
}

func TestTamperedDEKFails(t *testing.T) {
	ctx := context.Background()
	k, st, _ := newKeyring(t, nil, sources(t, env{}), Options{})
	dk, _ := k.NewDatabaseKey(ctx, "db")
	dk.Wrapped[len(dk.Wrapped)-1] ^= 1
	if err := st.CreateDatabase(ctx, store.Database{ID: "db", Name: "db"}, dk); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Version(ctx, "db", 1); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("Version on a tampered DEK = %v, want crypt.ErrAuth", err)
	}
	if _, err := k.Version(ctx, "db", 7); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Version 7 = %v, want ErrNoKey", err)
	}
}

func TestDEKBoundToDatabase(t *testing.T) {
	ctx := context.Background()
	k, st, _ := newKeyring(t, nil, sources(t, env{}), Options{})
	dk, _ := k.NewDatabaseKey(ctx, "db-a")
	dk.DatabaseID = "db-b" // a wrapped key copied to another database
	if err := st.CreateDatabase(ctx, store.Database{ID: "db-b", Name: "b"}, dk); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Version(ctx, "db-b", 1); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("moved DEK = %v, want crypt.ErrAuth", err)
	}
}

func TestIdleDEKsAreWiped(t *testing.T) {
	ctx := context.Background()
	k, st, _ := newKeyring(t, nil, sources(t, env{}), Options{})
	createDB(t, k, st, "db")
	d, err := k.Version(ctx, "db", 1)
	if err != nil {
		t.Fatal(err)
	}
	k.cache.sweep(0) // evicts: still usable for one more period
	if d.key.Wiped() || k.cache.size() != 0 {
		t.Fatalf("after first sweep: wiped=%v cached=%d, want false, 0", d.key.Wiped(), k.cache.size())
	}
	k.cache.sweep(0)
	if !d.key.Wiped() {
		t.Fatal("evicted DEK not wiped at the next sweep")
	}
	d2, _ := k.Version(ctx, "db", 1)
	k.Seal()
	if !d2.key.Wiped() {
		t.Fatal("Seal left a cached DEK unwiped")
	}
	if _, err := k.Version(ctx, "db", 1); !errors.Is(err, ErrSealed) {
		t.Fatalf("Version after Seal = %v, want ErrSealed", err)
	}
}

func TestAddSlotReplacesBrokenSlotOfSameSpec(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{})
	_, st, rk := newKeyring(t, nil, src, Options{})
	if err := os.RemoveAll(src.KeyDir); err != nil { // the auto key file is lost
		t.Fatal(err)
	}
	withRK := src
	withRK.RecoveryKey = func(context.Context) (string, error) { return rk, nil }
	k, _ := Open(ctx, st, Options{Sources: withRK})
	defer k.Close()
	if _, err := k.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Slots(ctx)
	added, err := k.AddSlot(ctx, "auto", 0)
	if err != nil {
		t.Fatalf("re-adding auto after its key file was lost: %v", err)
	}
	if added.Replaced != before[0].ID || added.Slot.Priority != before[0].Priority {
		t.Fatalf("added = %+v, want it to replace slot %d at priority %d", added, before[0].ID, before[0].Priority)
	}
	after, _ := st.Slots(ctx)
	if len(after) != 2 || after[0].ID != added.Slot.ID {
		t.Fatalf("slots after replace = %+v", after)
	}
	// The new auto slot works on its own, and re-adding it now is refused.
	k2, _ := Open(ctx, st, Options{Sources: src})
	defer k2.Close()
	if _, err := k2.Unlock(ctx); err != nil {
		t.Fatalf("unlock with the new auto slot: %v", err)
	}
	if _, err := k2.AddSlot(ctx, "auto", 0); err == nil || !strings.Contains(err.Error(), "already unlocks") {
		t.Fatalf("re-adding a working slot = %v, want a refusal", err)
	}
}

// TestNoKeyMaterialInStoreFiles scans the SQLite file and its WAL for the
// raw root key and data keys.
func TestNoKeyMaterialInStoreFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := withEnv(sources(t, env{}), env{"P": "pw"})
	if _, err := Init(ctx, st, []string{"auto", "env:P"}, src); err != nil {
		t.Fatal(err)
	}
	k, _ := Open(ctx, st, Options{Sources: src})
	defer k.Close()
	if _, err := k.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	var needles [][]byte
	for _, db := range []string{"a", "b", "c"} {
		createDB(t, k, st, db)
		d, err := k.Version(ctx, db, 1)
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles, bytes.Clone(d.Key().UnsafeBytes()))
	}
	root, _ := k.rootKey()
	needles = append(needles, bytes.Clone(root.UnsafeBytes()))
	files, _ := filepath.Glob(filepath.Join(dir, "kw.db*"))
	if len(files) < 2 {
		t.Fatalf("expected the database and its WAL, found %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for i, n := range needles {
			if bytes.Contains(b, n) || bytes.Contains(b, []byte(hex.EncodeToString(n))) {
				t.Errorf("key %d found in %s", i, filepath.Base(f))
			}
		}
	}
}

// TestInitLeavesSpecsAlone: Init must not write the recovery spec into
// spare capacity of the caller's slice.
func TestInitLeavesSpecsAlone(t *testing.T) {
	specs := make([]string, 1, 2)
	specs[0] = "auto"
	spare := specs[:2]
	spare[1] = "untouched"
	if _, err := Init(context.Background(), openStore(t), specs, sources(t, env{})); err != nil {
		t.Fatal(err)
	}
	if spare[1] != "untouched" {
		t.Fatalf("Init wrote %q into the caller's slice", spare[1])
	}
}

// tamperedKeys returns every data key with its wrapped bytes damaged once
// on is set.
type tamperedKeys struct {
	store.Store
	on bool
}

func (s *tamperedKeys) DataKeys(ctx context.Context, dbID string) ([]store.DataKey, error) {
	keys, err := s.Store.DataKeys(ctx, dbID)
	for i := range keys {
		if s.on {
			keys[i].Wrapped = slices.Clone(keys[i].Wrapped)
			keys[i].Wrapped[len(keys[i].Wrapped)-1] ^= 1
		}
	}
	return keys, err
}

// When the cached answer to "which version is primary" expires, the
// keyring asks the store again but keeps using the key it holds: it does
// not unwrap it anew (which costs a root-key AEAD and a copy of the key
// every primaryTTL per database).
func TestPrimaryRefreshKeepsCachedKey(t *testing.T) {
	ctx := context.Background()
	src := sources(t, env{})
	k1, st, _ := newKeyring(t, nil, src, Options{})
	createDB(t, k1, st, "db")
	ts := &tamperedKeys{Store: st}
	open := func() *Keyring {
		k, err := Open(ctx, ts, Options{Sources: src})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Close)
		if _, err := k.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := open()
	d1, err := k.Encrypter(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	ts.on = true
	k.cache.forgetPrimary("db") // as when primaryTTL has passed
	d2, err := k.Encrypter(ctx, "db")
	if err != nil {
		t.Fatalf("Encrypter after the primary answer expired: %v (the held key was unwrapped again)", err)
	}
	if d2 != d1 {
		t.Fatal("Encrypter returned another DEK than the cached one")
	}
	// The damage is real: a keyring without the key cached fails.
	if _, err := open().Encrypter(ctx, "db"); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("fresh keyring on damaged keys: %v, want crypt.ErrAuth", err)
	}
}
