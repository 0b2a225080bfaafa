package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/internal/storedump"
	"github.com/keyward/keyward/secret"
)

// exportAll exports every key of kw to a fresh X25519 identity and reads
// the export back.
func exportAll(t *testing.T, kw *keyward.Keyward, dbs ...string) (*bundle.Bundle, keyward.ExportSummary) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum, err := kw.ExportKeys(context.Background(), &buf, keyward.ExportOptions{Databases: dbs, Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatalf("ExportKeys() = %v", err)
	}
	b, err := bundle.Read(&buf, []age.Identity{id})
	if err != nil {
		t.Fatalf("bundle.Read(export) = %v", err)
	}
	t.Cleanup(b.Wipe)
	return b, sum
}

// keyOf returns a database's raw key of a version (0: primary).
func keyOf(t *testing.T, kw *keyward.Keyward, db string, version uint32) *secret.Key {
	t.Helper()
	k, _, err := kw.GetDataKey(context.Background(), db, version)
	if err != nil {
		t.Fatalf("GetDataKey(%s, %d) = %v", db, version, err)
	}
	t.Cleanup(k.Wipe)
	return k
}

// keyStates returns "version:state" of each key version of db.
func keyStates(t *testing.T, kw *keyward.Keyward, db string) string {
	t.Helper()
	st, err := kw.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range st.Databases {
		if d.Name == db {
			for _, k := range d.Keys {
				out = append(out, u32s(k.Version)+":"+k.State)
			}
		}
	}
	return strings.Join(out, " ")
}

func u32s(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// dumpStore returns everything the store holds, as text.
func dumpStore(t *testing.T, cfg keyward.Config) string {
	t.Helper()
	d, err := storedump.Dump(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// actions returns "db:version:action:state" of each key of a report.
func actions(rep keyward.ImportReport) string {
	var out []string
	for _, db := range rep.Databases {
		for _, k := range db.Keys {
			out = append(out, db.Name+":"+u32s(k.Version)+":"+k.Action+":"+k.State)
		}
	}
	return strings.Join(out, " ")
}

func TestExportHoldsEveryVersion(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	mustDB(t, kw, "app")
	mustDB(t, kw, "other")
	if _, err := kw.PutDataKey(ctx, "app", secret.Random(32), 0, false); err != nil {
		t.Fatal(err)
	}
	b, sum := exportAll(t, kw)
	if b.DeploymentID != kw.DeploymentID() || sum.DeploymentID != kw.DeploymentID() || sum.Keys() != 3 {
		t.Fatalf("export of deployment %s with %d keys, want %s and 3", b.DeploymentID, sum.Keys(), kw.DeploymentID())
	}
	if len(b.Databases) != 2 || b.Databases[0].Name != "app" || len(b.Databases[0].Keys) != 2 || b.Databases[1].Name != "other" {
		t.Fatalf("export holds %+v, want app (2 versions) and other", b.Databases)
	}
	for i, k := range b.Databases[0].Keys {
		if want := []string{"primary", "active"}[i]; k.State != want || !k.Key.Equal(keyOf(t, kw, "app", k.Version)) {
			t.Errorf("app version %d: state %s (want %s), or not the stored key", k.Version, k.State, want)
		}
	}

	b, _ = exportAll(t, kw, "other", "other")
	if len(b.Databases) != 1 || b.Databases[0].Name != "other" {
		t.Errorf("export of other: %+v", b.Databases)
	}
	var buf bytes.Buffer
	id, _ := age.GenerateX25519Identity()
	if _, err := kw.ExportKeys(ctx, &buf, keyward.ExportOptions{Databases: []string{"nope"}, Recipients: []age.Recipient{id.Recipient()}}); !errors.Is(err, keyward.ErrNotFound) || buf.Len() != 0 {
		t.Errorf("ExportKeys(unknown database) = %v, %d bytes written; want ErrNotFound and nothing", err, buf.Len())
	}
	if _, err := kw.ExportKeys(ctx, &buf, keyward.ExportOptions{}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("ExportKeys(no recipient) = %v, want ErrInvalid", err)
	}
}

func TestImportOwnExportChangesNothing(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "app")
	if _, err := db.Put(ctx, keyward.Entry{Path: "a", Fields: map[string]string{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := exportAll(t, kw)
	before := dumpStore(t, cfg)
	rep, err := kw.ImportKeys(ctx, b, keyward.ImportOptions{})
	if err != nil {
		t.Fatalf("ImportKeys(own export) = %v", err)
	}
	if got := actions(rep); got != "app:1:same:primary" {
		t.Errorf("ImportKeys(own export) = %s, want app:1:same:primary", got)
	}
	if after := dumpStore(t, cfg); after != before {
		t.Errorf("importing the deployment's own export changed the store")
	}
}

func TestImportRefusesAnotherDeployment(t *testing.T) {
	a, _, _ := setup(t)
	b, cfgB, _ := setup(t)
	mustDB(t, a, "app")
	mustDB(t, b, "app")
	exp, _ := exportAll(t, a)
	before := dumpStore(t, cfgB)
	for _, dry := range []bool{true, false} {
		_, err := b.ImportKeys(context.Background(), exp, keyward.ImportOptions{DryRun: dry, Overwrite: true})
		if !errors.Is(err, keyward.ErrWrongDeployment) || !strings.Contains(err.Error(), a.DeploymentID()) {
			t.Errorf("ImportKeys(another deployment's export, dry run %v) = %v, want ErrWrongDeployment naming it", dry, err)
		}
	}
	if dumpStore(t, cfgB) != before {
		t.Error("a refused import changed the store")
	}
}

func TestImportAddsVersionsAndDatabases(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	mustDB(t, kw, "app")
	exp, _ := exportAll(t, kw)
	app := exp.Databases[0]
	// The export as it would be from a later state of this deployment: app
	// has a new primary version 2 and a retired version 3, and a database
	// "late" was created with versions 1 (active) and 2 (primary).
	app.Keys = append(app.Keys,
		bundle.Key{Version: 2, State: "primary", Key: secret.Random(32)},
		bundle.Key{Version: 3, State: "retired", Key: secret.Random(32)})
	app.Keys[0].State = "active"
	late := bundle.Database{Name: "late", ID: "0123456789abcdef0123456789abcdef", Keys: []bundle.Key{
		{Version: 1, State: "active", Key: secret.Random(32)},
		{Version: 2, State: "primary", Key: secret.Random(32)},
	}}
	exp.Databases = []bundle.Database{app, late}

	before := dumpStore(t, cfg)
	rep, err := kw.ImportKeys(ctx, exp, keyward.ImportOptions{DryRun: true})
	if err != nil || !rep.DryRun {
		t.Fatalf("ImportKeys(dry run) = %+v, %v", rep, err)
	}
	want := "app:1:same:primary app:2:add:active app:3:add:retired late:1:add:active late:2:add:primary"
	if got := actions(rep); got != want {
		t.Errorf("ImportKeys(dry run) = %s, want %s", got, want)
	}
	if !rep.Databases[1].Create || rep.Databases[0].Create {
		t.Errorf("Create = %v, %v; want false for app, true for late", rep.Databases[0].Create, rep.Databases[1].Create)
	}
	if dumpStore(t, cfg) != before {
		t.Fatal("a dry run changed the store")
	}

	rep, err = kw.ImportKeys(ctx, exp, keyward.ImportOptions{})
	if err != nil || actions(rep) != want {
		t.Fatalf("ImportKeys() = %s, %v; want %s", actions(rep), err, want)
	}
	if got := keyStates(t, kw, "app"); got != "1:primary 2:active 3:retired" {
		t.Errorf("app keys after import: %s", got)
	}
	if got := keyStates(t, kw, "late"); got != "1:active 2:primary" {
		t.Errorf("late keys after import: %s", got)
	}
	if !keyOf(t, kw, "app", 2).Equal(app.Keys[1].Key) || !keyOf(t, kw, "late", 0).Equal(late.Keys[1].Key) {
		t.Error("imported keys differ from the export's")
	}
	// The created database works: writes go to its primary.
	d, err := kw.Database(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "v"}})
	if err != nil || e.KeyVersion != 2 {
		t.Fatalf("Put into the imported database = version %d, %v; want version 2", e.KeyVersion, err)
	}
	// Importing again finds everything in place.
	rep, err = kw.ImportKeys(ctx, exp, keyward.ImportOptions{})
	if err != nil || rep.Count(api.KeySame) != 5 {
		t.Errorf("second ImportKeys() = %s, %v; want 5 same", actions(rep), err)
	}
}

func TestImportRefusesATakenName(t *testing.T) {
	kw, cfg, _ := setup(t)
	mustDB(t, kw, "app")
	exp, _ := exportAll(t, kw)
	exp.Databases[0].ID = "ffffffffffffffffffffffffffffffff" // another database named app
	before := dumpStore(t, cfg)
	_, err := kw.ImportKeys(context.Background(), exp, keyward.ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "name is taken") {
		t.Errorf("ImportKeys(name taken by another id) = %v, want a refusal", err)
	}
	if dumpStore(t, cfg) != before {
		t.Error("a refused import changed the store")
	}
}

// TestImportConflictAndOverwrite: a version whose stored key differs from
// the export's is refused, reported with its rows and which key opens
// them, and replaced with Overwrite.
func TestImportConflictAndOverwrite(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "app")
	for _, p := range []string{"a", "b"} {
		if _, err := db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"x": p}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutAttachment(ctx, "a", "f.bin", strings.NewReader("attached")); err != nil {
		t.Fatal(err)
	}
	exp, _ := exportAll(t, kw)
	// Damage version 1: its stored key is replaced by a random one, so
	// the rows no longer open.
	res, err := kw.PutDataKey(ctx, "app", secret.Random(32), 1, true)
	if err != nil || res.Action != api.KeyReplace || res.Entries != 2 || res.Attachments != 1 || res.SampleOpens != api.SampleStored {
		t.Fatalf("PutDataKey(overwrite v1) = %+v, %v; want replace, 2 entries, 1 attachment, sample opens with the stored key", res, err)
	}
	if _, err := db.Get(ctx, "a"); !errors.Is(err, keyward.ErrIntegrity) {
		t.Fatalf("Get after the key was replaced = %v, want an integrity error", err)
	}

	before := dumpStore(t, cfg)
	rep, err := kw.ImportKeys(ctx, exp, keyward.ImportOptions{})
	if !errors.Is(err, keyward.ErrConflict) || !strings.Contains(err.Error(), "app version 1") {
		t.Fatalf("ImportKeys(conflict) = %v, want ErrConflict naming app version 1", err)
	}
	k := rep.Databases[0].Keys[0]
	if k.Action != api.KeyConflict || k.Entries != 2 || k.Attachments != 1 || k.SampleOpens != api.SampleExported {
		t.Errorf("conflict reported as %+v, want 2 entries, 1 attachment, sample opens with the exported key", k)
	}
	if dumpStore(t, cfg) != before {
		t.Fatal("a refused import changed the store")
	}
	rep, err = kw.ImportKeys(ctx, exp, keyward.ImportOptions{Overwrite: true, DryRun: true})
	if err != nil || rep.Databases[0].Keys[0].Action != api.KeyReplace || dumpStore(t, cfg) != before {
		t.Fatalf("ImportKeys(overwrite, dry run) = %s, %v, or it changed the store", actions(rep), err)
	}

	if _, err := kw.ImportKeys(ctx, exp, keyward.ImportOptions{Overwrite: true}); err != nil {
		t.Fatalf("ImportKeys(overwrite) = %v", err)
	}
	if e, err := db.Get(ctx, "b"); err != nil || e.Fields["x"] != "b" {
		t.Errorf("Get after the export's key was put back = %+v, %v", e, err)
	}
	if got := keyStates(t, kw, "app"); got != "1:primary" {
		t.Errorf("keys after overwrite: %s, want the state kept", got)
	}
}

func TestGetPutDataKey(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	mustDB(t, kw, "app")
	k1, v, err := kw.GetDataKey(ctx, "app", 0)
	if err != nil || v != 1 || k1.Len() != 32 {
		t.Fatalf("GetDataKey(app, primary) = version %d, %v", v, err)
	}
	defer k1.Wipe()

	nk := secret.Random(32)
	res, err := kw.PutDataKey(ctx, "app", nk, 0, false)
	if err != nil || res.Version != 2 || res.Action != api.KeyAdd || res.State != "active" || res.CheckValue != bundle.CheckValue(nk) {
		t.Fatalf("PutDataKey(new) = %+v, %v; want version 2 added active", res, err)
	}
	if res, err = kw.PutDataKey(ctx, "app", nk, 2, false); err != nil || res.Action != api.KeySame {
		t.Errorf("PutDataKey(same key again) = %+v, %v; want same", res, err)
	}
	if _, err = kw.PutDataKey(ctx, "app", secret.Random(32), 2, false); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("PutDataKey(another key, no overwrite) = %v, want ErrConflict", err)
	}
	if !keyOf(t, kw, "app", 2).Equal(nk) {
		t.Error("the refused put changed the key")
	}
	if res, err = kw.PutDataKey(ctx, "app", k1, 7, false); err != nil || res.Version != 7 {
		t.Errorf("PutDataKey(version 7) = %+v, %v", res, err)
	}
	if got := keyStates(t, kw, "app"); got != "1:primary 2:active 7:active" {
		t.Errorf("keys: %s", got)
	}
	for _, c := range []struct {
		db      string
		version uint32
		want    error
	}{{"nope", 0, keyward.ErrNotFound}, {"app", 3, keyward.ErrNotFound}} {
		if _, _, err := kw.GetDataKey(ctx, c.db, c.version); !errors.Is(err, c.want) {
			t.Errorf("GetDataKey(%s, %d) = %v, want %v", c.db, c.version, err, c.want)
		}
	}
	if _, err := kw.PutDataKey(ctx, "app", secret.Random(16), 0, false); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("PutDataKey(16 bytes) = %v, want ErrInvalid", err)
	}
	if _, err := kw.PutDataKey(ctx, "nope", nk, 0, false); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("PutDataKey(unknown database) = %v, want ErrNotFound", err)
	}
}

// moved is a deployment whose data directory was copied to a "new
// machine" that lacks the old machine's key files.
type moved struct {
	old, cfg keyward.Config
	res      keyward.InitResult
	exp      *bundle.Bundle
}

// moveDeployment makes a deployment with entries and attachments in two
// databases, exports its keys, and copies its data directory to a new
// place whose key directory is empty.
func moveDeployment(t *testing.T) *moved {
	t.Helper()
	kw, cfg, res := setup(t)
	ctx := context.Background()
	for _, name := range []string{"app", "ops"} {
		db := mustDB(t, kw, name)
		for _, p := range []string{"a", "b/c"} {
			if _, err := db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"v": name + p}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutAttachment(ctx, p, "f", strings.NewReader(strings.Repeat(name+p, 30000))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := kw.PutDataKey(ctx, "ops", secret.Random(32), 0, false); err != nil {
		t.Fatal(err)
	}
	exp, _ := exportAll(t, kw)
	kw.Close()
	dir := t.TempDir()
	m := &moved{old: cfg, res: res, exp: exp,
		cfg: keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}}
	if err := os.CopyFS(m.cfg.DataDir, os.DirFS(cfg.DataDir)); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportRekeyMovesADeployment(t *testing.T) {
	m := moveDeployment(t)
	ctx := context.Background()
	if _, err := keyward.Open(ctx, m.cfg); !errors.Is(err, keyward.ErrSealed) {
		t.Fatalf("Open on the new machine = %v, want sealed", err)
	}
	res, err := keyward.ImportRekey(ctx, m.cfg, m.exp, nil)
	if err != nil {
		t.Fatalf("ImportRekey() = %v", err)
	}
	if res.RecoveryKey == "" || res.RecoveryKey == m.res.RecoveryKey || res.Keys != 3 || len(res.Ignored) != 0 {
		t.Errorf("ImportRekey() = %d keys, ignored %v, recovery key new: %v", res.Keys, res.Ignored, res.RecoveryKey != m.res.RecoveryKey)
	}
	if len(res.Slots) != 2 || res.Slots[0].Spec != "auto" || !res.Slots[0].Unlocked || res.Slots[1].Spec != "recovery" || res.Slots[0].ID <= 2 {
		t.Errorf("slots after ImportRekey = %+v, want new auto (unlocked) and recovery slots", res.Slots)
	}

	kw, err := keyward.Open(ctx, m.cfg)
	if err != nil {
		t.Fatalf("Open after ImportRekey = %v", err)
	}
	defer kw.Close()
	for _, name := range []string{"app", "ops"} {
		db, err := kw.Database(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"a", "b/c"} {
			if e, err := db.Get(ctx, p); err != nil || e.Fields["v"] != name+p {
				t.Errorf("Get(%s, %s) after the move = %v, %v", name, p, e.Fields, err)
			}
			r, err := db.OpenAttachment(ctx, p, "f")
			if err != nil {
				t.Fatalf("OpenAttachment(%s, %s) = %v", name, p, err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(b) != strings.Repeat(name+p, 30000) {
				t.Errorf("attachment %s/%s after the move: %d bytes, %v", name, p, len(b), err)
			}
		}
	}
	// The old recovery key opens nothing; the new one does.
	for _, c := range []struct {
		rk   string
		want bool
	}{{m.res.RecoveryKey, false}, {res.RecoveryKey, true}} {
		cfg := m.cfg
		cfg.KeyDir, cfg.RecoveryKey = t.TempDir(), c.rk
		k, err := keyward.Open(ctx, cfg)
		if (err == nil) != c.want {
			t.Errorf("Open with recovery key (new: %v) = %v", c.want, err)
		}
		if err == nil {
			k.Close()
		}
	}
}

func TestImportRekeyRefusals(t *testing.T) {
	m := moveDeployment(t)
	ctx := context.Background()
	before := dumpStore(t, m.cfg)
	unchanged := func(what string) {
		t.Helper()
		if dumpStore(t, m.cfg) != before {
			t.Fatalf("%s changed the store", what)
		}
	}

	// A slot that unlocks: nothing to rekey.
	withRK := m.cfg
	withRK.RecoveryKey = m.res.RecoveryKey
	if _, err := keyward.ImportRekey(ctx, withRK, m.exp, nil); !errors.Is(err, keyward.ErrNotSealed) {
		t.Errorf("ImportRekey(unlockable) = %v, want ErrNotSealed", err)
	}
	unchanged("ImportRekey(unlockable)")

	// An export that lacks a version.
	short := *m.exp
	short.Databases = []bundle.Database{m.exp.Databases[0], m.exp.Databases[1]}
	short.Databases[1].Keys = short.Databases[1].Keys[:1]
	if _, err := keyward.ImportRekey(ctx, m.cfg, &short, nil); err == nil || !strings.Contains(err.Error(), "ops version 2") {
		t.Errorf("ImportRekey(missing version) = %v, want an error naming ops version 2", err)
	}
	unchanged("ImportRekey(missing version)")

	// An export whose key for app version 1 is not the one of the rows.
	wrong := *m.exp
	wrong.Databases = []bundle.Database{m.exp.Databases[0], m.exp.Databases[1]}
	wrong.Databases[0].Keys = []bundle.Key{{Version: 1, State: "primary", Key: secret.Random(32)}}
	if _, err := keyward.ImportRekey(ctx, m.cfg, &wrong, nil); err == nil || !strings.Contains(err.Error(), "app version 1 (entry id") {
		t.Errorf("ImportRekey(wrong key) = %v, want an error naming app version 1", err)
	}
	unchanged("ImportRekey(wrong key)")

	// Another deployment's export.
	other, _, _ := setup(t)
	mustDB(t, other, "app")
	exp, _ := exportAll(t, other)
	if _, err := keyward.ImportRekey(ctx, m.cfg, exp, nil); !errors.Is(err, keyward.ErrWrongDeployment) {
		t.Errorf("ImportRekey(another deployment) = %v, want ErrWrongDeployment", err)
	}
	unchanged("ImportRekey(another deployment)")

	// A spec that cannot wrap: nothing is stored.
	if _, err := keyward.ImportRekey(ctx, m.cfg, m.exp, []string{"env:KW_TEST_UNSET_PASSPHRASE"}); err == nil {
		t.Error("ImportRekey(env slot without its variable) = nil, want an error")
	}
	unchanged("ImportRekey(bad spec)")
}
