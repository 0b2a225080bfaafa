package keyward_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// fastJobs shortens the settling time and the lease for a test.
func fastJobs(t *testing.T) {
	t.Helper()
	t.Cleanup(keyward.SetJobTiming(50*time.Millisecond, 30*time.Second))
}

// fill writes n entries "e/NNNNN" whose field v is value(i).
func fill(t *testing.T, db *keyward.Database, n int) {
	t.Helper()
	for i := range n {
		if _, err := db.Create(t.Context(), keyward.Entry{Path: entryPath(i), Fields: map[string]string{"v": value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func entryPath(i int) string { return fmt.Sprintf("e/%05d", i) }
func value(i int) string     { return fmt.Sprintf("secret-%d-%s", i, strings.Repeat("x", i%7)) }

// attachmentData is the content of attachment i: sizes around and above a
// chunk.
func attachmentData(i int) []byte {
	size := []int{0, 1, 65536, 65537, 200_000}[i%5]
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i + j*7)
	}
	return b
}

// checkAll proves that entries 0..n-1 decrypt to their values and the
// first m carry attachment i.
func checkAll(t *testing.T, db *keyward.Database, n, m int) {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		e, err := db.Get(ctx, entryPath(i))
		if err != nil {
			t.Fatalf("Get(%s) = %v", entryPath(i), err)
		}
		if e.Fields["v"] != value(i) {
			t.Fatalf("Get(%s) = %q, want %q", entryPath(i), e.Fields["v"], value(i))
		}
	}
	for i := range m {
		ar, err := db.OpenAttachment(ctx, entryPath(i), "f")
		if err != nil {
			t.Fatalf("OpenAttachment(%d) = %v", i, err)
		}
		got, err := io.ReadAll(ar)
		ar.Close()
		if err != nil || !bytes.Equal(got, attachmentData(i)) {
			t.Fatalf("attachment %d: %d bytes, %v; want its %d original bytes", i, len(got), err, len(attachmentData(i)))
		}
	}
}

func attachAll(t *testing.T, db *keyward.Database, m int) {
	t.Helper()
	for i := range m {
		if _, err := db.PutAttachment(t.Context(), entryPath(i), "f", bytes.NewReader(attachmentData(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// usage returns, per key version of database name, its state and the
// rows that use it.
func usage(t *testing.T, kw *keyward.Keyward, name string) []keyward.KeyStatus {
	t.Helper()
	st, err := kw.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Databases {
		if d.Name == name {
			return d.Keys
		}
	}
	t.Fatalf("no database %q in Status", name)
	return nil
}

// onlyOn fails unless every row of database name uses version v.
func onlyOn(t *testing.T, kw *keyward.Keyward, name string, v uint32) {
	t.Helper()
	for _, k := range usage(t, kw, name) {
		if k.Version != v && k.Entries+k.Attachments > 0 {
			t.Errorf("database %s: %d entries and %d attachments on version %d (%s), want all on %d",
				name, k.Entries, k.Attachments, k.Version, k.State, v)
		}
	}
}

func runJob(t *testing.T, kw *keyward.Keyward, id string) *keyward.Job {
	t.Helper()
	if err := kw.RunJob(t.Context(), id, nil); err != nil {
		t.Fatalf("RunJob() = %v", err)
	}
	j, err := kw.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestRegenerate(t *testing.T) {
	fastJobs(t)
	kw, _, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 120)
	attachAll(t, db, 5)
	before, _ := db.Get(ctx, entryPath(3))

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{Databases: []string{"app"}, BatchSize: 50,
		Backup: &backup, Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatalf("Regenerate() = %v", err)
	}
	if job.State != "running" || len(job.Databases) != 1 || job.Databases[0].Target != 2 || job.Progress.Total != 125 {
		t.Errorf("Regenerate() = %+v; want running, target 2, 125 rows", job)
	}
	b, err := bundle.Read(&backup, []age.Identity{id})
	if err != nil {
		t.Fatalf("the backup does not read: %v", err)
	}
	if len(b.Databases) != 1 || len(b.Databases[0].Keys) != 1 || b.Databases[0].Keys[0].Version != 1 {
		t.Errorf("backup holds %+v, want app's version 1", b.Databases)
	}
	b.Wipe()

	var reports []keyward.JobProgress
	if err := kw.RunJob(ctx, job.ID, func(p keyward.JobProgress) { reports = append(reports, p) }); err != nil {
		t.Fatalf("RunJob() = %v", err)
	}
	j, _ := kw.Job(ctx, job.ID)
	if j.State != "done" || j.Progress.Entries != 120 || j.Progress.Attachments != 5 || j.Progress.FailedCount != 0 {
		t.Errorf("job after RunJob = %+v; want done, 120 entries, 5 attachments", j)
	}
	if len(reports) < 3 || reports[len(reports)-1].Done != 125 {
		t.Errorf("progress reports = %+v; want several, the last with 125 done", reports)
	}
	checkAll(t, db, 120, 5)
	onlyOn(t, kw, "app", 2)
	keys := usage(t, kw, "app")
	if len(keys) != 2 || keys[0].State != "retired" || keys[1].State != "primary" {
		t.Errorf("keys after the job = %+v; want 1 retired, 2 primary", keys)
	}
	after, _ := db.Get(ctx, entryPath(3))
	if after.Revision != before.Revision || !after.Updated.Equal(before.Updated) || after.KeyVersion != 2 {
		t.Errorf("entry after = rev %d updated %v v%d; want rev %d updated %v v2", after.Revision, after.Updated,
			after.KeyVersion, before.Revision, before.Updated)
	}
	// A client's compare-and-swap on the revision it read before still works.
	if _, err := db.Put(ctx, keyward.Entry{Path: entryPath(3), Revision: before.Revision, Fields: map[string]string{"v": "new"}}); err != nil {
		t.Errorf("Put(revision read before the job) = %v", err)
	}

	// Destroy: refused for the primary, allowed for the retired version.
	if err := kw.DestroyKey(ctx, "app", 2); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DestroyKey(primary) = %v, want ErrConflict", err)
	}
	if err := kw.DestroyKey(ctx, "app", 1); err != nil {
		t.Errorf("DestroyKey(retired 1) = %v", err)
	}
	checkAll(t, db, 0, 5)
	if keys := usage(t, kw, "app"); len(keys) != 1 || keys[0].Version != 2 {
		t.Errorf("keys after destroy = %+v, want version 2 alone", keys)
	}
}

func TestRegenerateRefusals(t *testing.T) {
	fastJobs(t)
	kw, _, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 10)
	if _, err := kw.Regenerate(ctx, keyward.RegenerateOptions{}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("Regenerate(no backup) = %v, want ErrInvalid", err)
	}
	if _, err := kw.Regenerate(ctx, keyward.RegenerateOptions{Databases: []string{"nope"}, NoBackup: true}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Regenerate(unknown db) = %v, want ErrNotFound", err)
	}
	if keys := usage(t, kw, "app"); len(keys) != 1 {
		t.Errorf("keys after refused regenerations = %+v, want version 1 alone", keys)
	}
	if jobs, _ := kw.Jobs(ctx); len(jobs) != 0 {
		t.Errorf("jobs after refused regenerations = %d, want 0", len(jobs))
	}
	// Destroy while used or active.
	if err := kw.DestroyKey(ctx, "app", 1); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DestroyKey(primary in use) = %v, want ErrConflict", err)
	}
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.DestroyKey(ctx, "app", 1); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DestroyKey(active, in use) = %v, want ErrConflict", err)
	}
	if _, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("Regenerate while job %s runs = %v, want ErrConflict", job.ID, err)
	}
	checkAll(t, db, 10, 0)
}

func TestRegenerateDryRun(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 7)
	attachAll(t, db, 2)
	before := usage(t, kw, "app")
	counts, err := kw.CountRegenerate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Entries != 7 || counts[0].Attachments != 2 || !slices.Equal(counts[0].Versions, []uint32{1}) {
		t.Errorf("CountRegenerate() = %+v, want app: 7 entries, 2 attachments, version 1", counts)
	}
	if after := usage(t, kw, "app"); !slices.Equal(after, before) {
		t.Errorf("keys after a dry run = %+v, want %+v", after, before)
	}
	if jobs, _ := kw.Jobs(ctx); len(jobs) != 0 {
		t.Errorf("jobs after a dry run = %d, want 0", len(jobs))
	}
}

func TestRegeneratePauseResumeCancel(t *testing.T) {
	fastJobs(t)
	kw, _, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 100)
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	pause := func(p keyward.JobProgress) {
		if p.Done == 20 {
			if _, err := kw.PauseJob(ctx, job.ID); err != nil {
				t.Errorf("PauseJob() = %v", err)
			}
		}
	}
	if err := kw.RunJob(ctx, job.ID, pause); err != nil {
		t.Fatalf("RunJob(paused midway) = %v", err)
	}
	j, _ := kw.Job(ctx, job.ID)
	if j.State != "paused" || j.Progress.Entries != 20 || j.Owner != "" {
		t.Fatalf("job after the pause = %+v; want paused after 20 entries, no owner", j)
	}
	if err := kw.RunJob(ctx, job.ID, nil); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("RunJob(paused) = %v, want ErrConflict", err)
	}
	if _, err := kw.ResumeJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if j := runJob(t, kw, job.ID); j.State != "done" || j.Progress.Entries != 100 {
		t.Errorf("job after resume = %+v; want done with 100 entries", j)
	}
	onlyOn(t, kw, "app", 2)

	// Cancel midway: what was done stays, the rest is on version 2's
	// predecessor, still readable.
	job, err = kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	cancel := func(p keyward.JobProgress) {
		if p.Done == 30 {
			if _, err := kw.CancelJob(ctx, job.ID); err != nil {
				t.Errorf("CancelJob() = %v", err)
			}
		}
	}
	if err := kw.RunJob(ctx, job.ID, cancel); err != nil {
		t.Fatalf("RunJob(cancelled midway) = %v", err)
	}
	if j, _ := kw.Job(ctx, job.ID); j.State != "cancelled" || j.Progress.Entries != 30 {
		t.Errorf("job after cancel = %+v; want cancelled after 30", j)
	}
	if _, err := kw.ResumeJob(ctx, job.ID); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("ResumeJob(cancelled) = %v, want ErrConflict", err)
	}
	checkAll(t, db, 100, 0)
	job, err = kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true})
	if err != nil {
		t.Fatalf("Regenerate after a cancel = %v", err)
	}
	runJob(t, kw, job.ID)
	onlyOn(t, kw, "app", 4)
}

func TestRegenerateLeaseTakeover(t *testing.T) {
	fastJobs(t)
	kw, cfg, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 30)
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the lease, and is alive.
	other, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, keyward.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dead := store.JobLease{JobID: job.ID, Owner: "other-process"}
	if _, err := other.AcquireJob(ctx, job.ID, dead.Owner, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := kw.RunJob(ctx, job.ID, nil); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("RunJob while another process holds the lease = %v, want ErrConflict", err)
	}
	// It dies: its heartbeat grows old.
	exec(t, rawDB(t, cfg), "UPDATE jobs SET heartbeat = 1 WHERE id = ?", job.ID)
	if j := runJob(t, kw, job.ID); j.State != "done" || j.Progress.Entries != 30 {
		t.Errorf("job taken over = %+v, want done with 30 entries", j)
	}
	// The previous holder can write nothing any more.
	if err := other.SaveJobProgress(ctx, dead, store.JobProgress{Cursor: "{}"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("the old holder's SaveJobProgress = %v, want ErrLeaseLost", err)
	}
	checkAll(t, db, 30, 0)
	onlyOn(t, kw, "app", 2)
}

func TestRegenerateTamperedRow(t *testing.T) {
	fastJobs(t)
	kw, cfg, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fill(t, db, 40)
	attachAll(t, db, 2)
	raw := rawDB(t, cfg)
	var id string
	var ct []byte
	if err := raw.QueryRow("SELECT id, ciphertext FROM entries WHERE path = ?", entryPath(7)).Scan(&id, &ct); err != nil {
		t.Fatal(err)
	}
	ct[len(ct)-1] ^= 1
	exec(t, raw, "UPDATE entries SET ciphertext = ? WHERE id = ?", ct, id)
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	err = kw.RunJob(ctx, job.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "do not decrypt") {
		t.Fatalf("RunJob with a tampered row = %v, want a failure naming rows that do not decrypt", err)
	}
	j, _ := kw.Job(ctx, job.ID)
	if j.State != "failed" || j.Progress.FailedCount != 1 || !slices.Equal(j.Progress.Failed, []string{id}) ||
		j.Progress.Entries != 39 || j.Progress.Attachments != 2 {
		t.Errorf("job = %+v; want failed, the tampered id %s alone, 39 entries and 2 attachments done", j, id)
	}
	for i := range 40 {
		e, err := db.Get(ctx, entryPath(i))
		if i == 7 {
			if !errors.Is(err, keyward.ErrIntegrity) {
				t.Errorf("Get(tampered) = %v, want ErrIntegrity", err)
			}
			continue
		}
		if err != nil || e.KeyVersion != 2 || e.Fields["v"] != value(i) {
			t.Errorf("Get(%d) = v%d %v; want its value on version 2", i, e.KeyVersion, err)
		}
	}
	if keys := usage(t, kw, "app"); keys[0].State != "active" || keys[0].Entries != 1 {
		t.Errorf("version 1 = %+v; want active, used by the tampered entry", keys[0])
	}
}
