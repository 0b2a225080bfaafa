package keyward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// JobProgress is what RunJob reports after each batch. It counts rows and
// names databases, never content.
type JobProgress struct {
	JobID    string `json:"job"`
	Pass     int    `json:"pass"`
	Database string `json:"database,omitempty"`
	Phase    string `json:"phase"` // entries, attachments or verify
	Done     int64  `json:"done"`  // rows re-encrypted so far
	Total    int64  `json:"total"` // rows on old versions at the start
	Skipped  int64  `json:"skipped"`
	Failed   int64  `json:"failed"`
	Batch    int    `json:"batch"` // rows in this batch
}

// Timing of jobs; tests shorten them (export_test.go).
var (
	// regenSettle is how long after the switch to new primaries a
	// regeneration waits before its verifying pass: other processes may
	// write with the previous primary until their cached answer expires.
	regenSettle = keyring.PrimaryTTL + time.Second
	// jobLease is how long a job's lease lives without a heartbeat.
	jobLease = 30 * time.Second
)

// maxPasses bounds the passes of a regeneration whose rows keep landing on
// old versions (a writer that never learns the new primary).
const maxPasses = 10

func (kw *Keyward) jobLeaseTTL() time.Duration { return jobLease }

// errStopped means the job was paused or cancelled.
var errStopped = errors.New("job stopped")

// jobCursor is where a regeneration is (the job's Cursor, JSON).
type jobCursor struct {
	Pass      int       `json:"pass"`
	PassStart time.Time `json:"pass_start"`
	Changed   int64     `json:"changed"` // rows rewritten or skipped in this pass
	DB        int       `json:"db"`      // index into the spec's databases
	Phase     int       `json:"phase"`   // 0 entries, 1 attachments
	After     string    `json:"after"`   // last id done in this phase
}

// runner runs one regeneration job while holding its lease.
type runner struct {
	kw       *Keyward
	lease    store.JobLease
	spec     jobSpec
	cur      jobCursor
	counts   api.JobCounts
	progress func(JobProgress)
	lim      limiter
	left     map[string]uint64 // encryptions reserved and unused, per database
	ahead    *entryAhead       // the next batch of entries, being prepared
}

// RunJob runs a job in this process until it is done, fails, is paused or
// cancelled, or ctx ends; progress (may be nil) is called after each
// batch. Each batch commits with the job's cursor, so a job stopped by a
// crash or by ctx resumes where it was with another RunJob, here or in
// another process (after the lease of the dead one expires). It returns nil
// when the job ended done, paused or cancelled (read it with Job), an error
// saying why when it failed, ErrConflict when another live process runs it
// or it is not running.
func (kw *Keyward) RunJob(ctx context.Context, id string, progress func(JobProgress)) error {
	if kw.Sealed() {
		return fmt.Errorf("keyward: run job: %w", ErrSealed)
	}
	r := &runner{kw: kw, lease: store.JobLease{JobID: id, Owner: newOwner()}, progress: progress, left: map[string]uint64{}}
	j, err := kw.st.AcquireJob(ctx, id, r.lease.Owner, kw.jobLeaseTTL())
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("keyward: job %s: %w; see `keyward keys jobs show %s`", id, err, id)
	}
	if err != nil {
		return jobNotFound(id, err)
	}
	if err := r.load(j); err != nil {
		_ = kw.st.ReleaseJob(context.WithoutCancel(ctx), r.lease)
		return err
	}
	kw.log.Info("job running", "job", id, "pass", r.cur.Pass)
	runCtx, cancel := context.WithCancelCause(ctx)
	beat := make(chan struct{})
	go func() { defer close(beat); r.heartbeat(runCtx, cancel) }()
	if r.spec.Offline {
		if _, err := kw.SetMaintenance(runCtx, true, "key regeneration (job "+id+")"); err != nil {
			kw.log.Warn("job could not switch maintenance on", "job", id, "error", err)
		}
	}
	err = r.run(runCtx)
	if cause := context.Cause(runCtx); err != nil && errors.Is(cause, store.ErrLeaseLost) {
		err = cause
	}
	cancel(nil)
	<-beat
	bg := context.WithoutCancel(ctx)
	if errors.Is(err, store.ErrLeaseLost) {
		// Taken over (or stopped and taken over): the holder decides.
		return fmt.Errorf("keyward: job %s: another process took it over: %w", id, err)
	}
	kw.restoreMaintenance(bg, r.spec)
	_ = kw.st.ReleaseJob(bg, r.lease)
	if errors.Is(err, errStopped) {
		kw.log.Info("job stopped", "job", id)
		return nil
	}
	return err
}

// newOwner names one run of a job: host, process and a random part.
func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

func (r *runner) load(j store.Job) error {
	if j.Kind != JobKindRegenerate {
		return invalid("job %s is of kind %q, which this keyward does not run", j.ID, j.Kind)
	}
	if err := json.Unmarshal([]byte(j.Spec), &r.spec); err != nil {
		return fmt.Errorf("keyward: job %s: unreadable spec: %w", j.ID, err)
	}
	if j.Cursor != "" {
		if err := json.Unmarshal([]byte(j.Cursor), &r.cur); err != nil {
			return fmt.Errorf("keyward: job %s: unreadable cursor: %w", j.ID, err)
		}
	}
	if j.Counts != "" {
		if err := json.Unmarshal([]byte(j.Counts), &r.counts); err != nil {
			return fmt.Errorf("keyward: job %s: unreadable counts: %w", j.ID, err)
		}
	}
	batch := r.spec.Batch
	if r.spec.Rate > 0 {
		batch = min(batch, max(1, int(r.spec.Rate)))
	}
	r.spec.Batch = max(batch, 1)
	r.lim = limiter{rate: r.spec.Rate}
	return nil
}

// heartbeat renews the lease until ctx ends; a lost lease cancels ctx.
func (r *runner) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(max(r.kw.jobLeaseTTL()/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.kw.st.RenewJob(ctx, r.lease); errors.Is(err, store.ErrLeaseLost) {
				cancel(err)
				return
			}
		}
	}
}

// run works until the job ends or stops.
func (r *runner) run(ctx context.Context) error {
	defer r.dropAhead()
	for {
		if err := r.check(ctx); err != nil {
			return err
		}
		if r.cur.DB >= len(r.spec.Databases) {
			final, err := r.endPass(ctx)
			if err != nil {
				return err
			}
			if final {
				return r.finish(ctx)
			}
			continue
		}
		sd := r.spec.Databases[r.cur.DB]
		var err error
		if r.cur.Phase == 0 {
			err = r.entryBatch(ctx, sd)
		} else {
			err = r.attachmentStep(ctx, sd)
		}
		if errors.Is(err, store.ErrLeaseLost) {
			return r.stopped(ctx, err)
		}
		if err != nil {
			return err
		}
	}
}

// check reads the job: paused or cancelled stops the run.
func (r *runner) check(ctx context.Context) error {
	j, err := r.kw.st.Job(ctx, r.lease.JobID)
	if err != nil {
		return err
	}
	return r.stateErr(j)
}

func (r *runner) stateErr(j store.Job) error {
	switch {
	case j.Owner != r.lease.Owner:
		return store.ErrLeaseLost
	case j.State != store.JobRunning:
		return errStopped
	}
	return nil
}

// stopped explains an ErrLeaseLost from a write: paused or cancelled, or
// really taken over.
func (r *runner) stopped(ctx context.Context, err error) error {
	j, jerr := r.kw.st.Job(context.WithoutCancel(ctx), r.lease.JobID)
	if jerr != nil {
		return err
	}
	if serr := r.stateErr(j); serr != nil {
		return serr
	}
	return err
}

// progressOf is the stored form of a cursor and counts.
func progressOf(cur jobCursor, counts api.JobCounts) store.JobProgress {
	c, _ := json.Marshal(cur)
	n, _ := json.Marshal(counts)
	return store.JobProgress{Cursor: string(c), Counts: string(n)}
}

// save records the cursor and counts alone (a phase or pass change).
func (r *runner) save(ctx context.Context, cur jobCursor, counts api.JobCounts) error {
	if err := r.kw.st.SaveJobProgress(ctx, r.lease, progressOf(cur, counts)); err != nil {
		return err
	}
	r.cur, r.counts = cur, counts
	return nil
}

func (r *runner) report(db, phase string, batch int) {
	if r.progress == nil {
		return
	}
	r.progress(JobProgress{JobID: r.lease.JobID, Pass: r.cur.Pass, Database: db, Phase: phase,
		Done: r.counts.Entries + r.counts.Attachments, Total: r.counts.Total,
		Skipped: r.counts.Skipped, Failed: r.counts.FailedCount, Batch: batch})
}

// maxFailedIDs bounds the failed row ids a job keeps.
const maxFailedIDs = 100

// addFailed records a row that does not decrypt.
func addFailed(c *api.JobCounts, id string) {
	if slices.Contains(c.Failed, id) {
		return
	}
	c.FailedCount++
	if len(c.Failed) < maxFailedIDs {
		c.Failed = append(c.Failed, id)
	}
}

// isUndecryptable tells a row that cannot be decrypted (reported, the job
// goes on) from a failure of the process or the store (the job stops and
// can be resumed).
func isUndecryptable(err error) bool {
	return errors.Is(err, crypt.ErrAuth) || errors.Is(err, crypt.ErrFormat) ||
		errors.Is(err, keyring.ErrNoKey) || errors.Is(err, store.ErrCorrupt)
}

// reserve returns the target key of sd after counting n encryptions
// against it; the store is asked for a block at a time.
func (r *runner) reserve(ctx context.Context, sd specDB, n int) (*keyring.DEK, error) {
	if r.left[sd.ID] < uint64(n) {
		block := uint64(max(n*8, 4096))
		if _, err := r.kw.kr.Reserve(ctx, sd.ID, sd.Target, block); err != nil {
			return nil, err
		}
		r.left[sd.ID] += block
	}
	r.left[sd.ID] -= uint64(n)
	return r.kw.kr.Version(ctx, sd.ID, sd.Target)
}
