package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// Job is a long-running key operation: a regeneration. See Regenerate.
type Job = api.Job

// RegenerateCount is what a dry run of Regenerate counts for a database.
type RegenerateCount = api.RegenerateCount

// JobKindRegenerate is the Kind of a regeneration job.
const JobKindRegenerate = "regenerate"

// RegenerateOptions says what Regenerate does.
type RegenerateOptions struct {
	// Databases are the names of the databases to regenerate (empty:
	// every database).
	Databases []string
	// Offline switches maintenance on while the job runs (and back to what
	// it was when the job ends) and rewrites in bigger batches.
	Offline bool
	// Rate limits re-encryption to this many entries per second (0: no
	// limit).
	Rate float64
	// BatchSize is the number of entries per transaction (default 500, or
	// 5000 offline).
	BatchSize int
	// Backup receives an export of the current keys of the databases
	// (bundle format), encrypted to Recipients, before anything changes.
	Backup     io.Writer
	Recipients []age.Recipient
	// NoBackup must be set to start without a Backup.
	NoBackup bool
	// PrimaryKeys, by database id, is key material to make the new primary
	// version of those databases instead of a random key (keys import
	// --reencrypt: the data ends up under the imported keys). The caller
	// keeps and wipes the keys.
	PrimaryKeys map[string]*secret.Key
}

// Default batch sizes of a regeneration.
const (
	onlineBatch  = 500
	offlineBatch = 5000
)

// jobSpec is a regeneration job's Spec (JSON, no secret).
type jobSpec struct {
	Databases []specDB `json:"databases"`
	Offline   bool     `json:"offline"`
	Rate      float64  `json:"rate"`
	Batch     int      `json:"batch"`
	// Previous is the maintenance switch before an offline job set it.
	Previous *Maintenance `json:"previous_maintenance,omitempty"`
	// Switched is when the target versions became primary.
	Switched time.Time `json:"switched"`
}

type specDB struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Target uint32   `json:"target"`
	Old    []uint32 `json:"old"`
}

// CountRegenerate counts what Regenerate would re-encrypt (a dry run):
// every entry and attachment of the databases. It changes nothing.
func (kw *Keyward) CountRegenerate(ctx context.Context, names []string) ([]RegenerateCount, error) {
	dbs, err := kw.chooseDatabases(ctx, names)
	if err != nil {
		return nil, err
	}
	var out []RegenerateCount
	for _, db := range dbs {
		usage, err := kw.st.KeyUsage(ctx, db.ID)
		if err != nil {
			return nil, err
		}
		c := RegenerateCount{Name: db.Name, Versions: []uint32{}}
		for _, u := range usage {
			c.Entries += u.Entries
			c.Attachments += u.Attachments
		}
		keys, err := kw.st.DataKeys(ctx, db.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.State != store.KeyRetired {
				c.Versions = append(c.Versions, k.Version)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Regenerate starts a regeneration: it writes the backup, makes a new data
// key version primary for each database (the old primary becomes active)
// and records a job that re-encrypts every entry and attachment onto it.
// Run the job with RunJob. It refuses (ErrConflict) while another
// regeneration of one of the databases is running or paused, and
// (ErrInvalid) without a Backup unless NoBackup is set.
//
// If the process dies between the new primaries and the job's record, the
// new versions stay primary and hold new writes; run Regenerate again.
func (kw *Keyward) Regenerate(ctx context.Context, o RegenerateOptions) (*Job, error) {
	j, err := kw.regenerate(ctx, o)
	target := "databases " + strings.Join(o.Databases, ",")
	if len(o.Databases) == 0 {
		target = "all databases"
	}
	if j != nil {
		target = "job " + j.ID + ": " + target
	}
	if err := kw.Audit(ctx, "keys.regenerate", target, err); err != nil {
		return j, err
	}
	return j, nil
}

func (kw *Keyward) regenerate(ctx context.Context, o RegenerateOptions) (*Job, error) {
	if kw.Sealed() {
		return nil, fmt.Errorf("keyward: regenerate: %w", ErrSealed)
	}
	if o.Backup == nil && !o.NoBackup {
		return nil, invalid("regenerate: no backup: give a backup of the current keys, or explicitly none")
	}
	if o.Rate < 0 || o.BatchSize < 0 {
		return nil, invalid("regenerate: negative rate or batch size")
	}
	dbs, err := kw.chooseDatabases(ctx, o.Databases)
	if err != nil {
		return nil, err
	}
	if err := kw.checkNoOtherJob(ctx, dbs); err != nil {
		return nil, err
	}
	if o.Backup != nil {
		if err := kw.writeBackup(ctx, o.Backup, o.Recipients, dbs); err != nil {
			return nil, fmt.Errorf("keyward: regenerate: backup not written, nothing changed: %w", err)
		}
	}
	spec := jobSpec{Offline: o.Offline, Rate: o.Rate, Batch: o.BatchSize}
	if spec.Batch == 0 {
		spec.Batch = onlineBatch
		if o.Offline {
			spec.Batch = offlineBatch
		}
	}
	if o.Offline {
		m, err := kw.Maintenance(ctx)
		if err != nil {
			return nil, err
		}
		spec.Previous = &m
	}
	var total int64
	for _, db := range dbs {
		sd, n, err := kw.switchPrimary(ctx, db, o.PrimaryKeys[db.ID])
		if err != nil {
			return nil, err
		}
		spec.Databases = append(spec.Databases, sd)
		total += n
	}
	spec.Switched = time.Now().UTC()
	specJSON, _ := json.Marshal(spec)
	counts, _ := json.Marshal(api.JobCounts{Total: total})
	j, err := kw.st.CreateJob(ctx, store.Job{ID: newID(), Kind: JobKindRegenerate, State: store.JobRunning,
		Spec: string(specJSON), Counts: string(counts)})
	if err != nil {
		return nil, fmt.Errorf("keyward: regenerate: %w", err)
	}
	kw.log.Info("regeneration started", "job", j.ID, "databases", len(dbs), "rows", total)
	return toJob(j), nil
}

// switchPrimary makes a new primary for db and returns its part of the
// spec and how many rows are on the older versions.
func (kw *Keyward) switchPrimary(ctx context.Context, db store.Database, key *secret.Key) (specDB, int64, error) {
	keys, err := kw.st.DataKeys(ctx, db.ID)
	if err != nil {
		return specDB{}, 0, err
	}
	var target uint32
	if key != nil {
		target, err = kw.kr.AddPrimaryKey(ctx, db.ID, key)
	} else {
		target, err = kw.kr.AddPrimary(ctx, db.ID)
	}
	if err != nil {
		return specDB{}, 0, fmt.Errorf("keyward: regenerate %q: %w", db.Name, err)
	}
	sd := specDB{ID: db.ID, Name: db.Name, Target: target, Old: []uint32{}}
	for _, k := range keys {
		if k.State != store.KeyRetired {
			sd.Old = append(sd.Old, k.Version)
		}
	}
	usage, err := kw.st.KeyUsage(ctx, db.ID)
	if err != nil {
		return specDB{}, 0, err
	}
	var n int64
	for _, u := range usage {
		if u.Version < target {
			n += u.Entries + u.Attachments
		}
	}
	return sd, n, nil
}

func (kw *Keyward) chooseDatabases(ctx context.Context, names []string) ([]store.Database, error) {
	if len(names) == 0 {
		dbs, err := kw.st.Databases(ctx)
		if err == nil && len(dbs) == 0 {
			err = invalid("there is no database: create one with `keyward db create NAME`")
		}
		return dbs, err
	}
	var out []store.Database
	for _, n := range names {
		d, err := kw.Database(ctx, n)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(o store.Database) bool { return o.ID == d.db.ID }) {
			out = append(out, d.db)
		}
	}
	return out, nil
}

// checkNoOtherJob refuses while a regeneration of one of dbs is running or
// paused.
func (kw *Keyward) checkNoOtherJob(ctx context.Context, dbs []store.Database) error {
	jobs, err := kw.st.Jobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State != store.JobRunning && j.State != store.JobPaused {
			continue
		}
		var spec jobSpec
		if json.Unmarshal([]byte(j.Spec), &spec) != nil {
			continue
		}
		for _, sd := range spec.Databases {
			if slices.ContainsFunc(dbs, func(d store.Database) bool { return d.ID == sd.ID }) {
				return fmt.Errorf("keyward: regenerate: %w: job %s (%s) already regenerates database %q; "+
					"resume it (`keyward keys jobs resume %s`) or cancel it first", ErrConflict, j.ID, j.State, sd.Name, j.ID)
			}
		}
	}
	return nil
}

// Jobs lists the jobs, oldest first.
func (kw *Keyward) Jobs(ctx context.Context) ([]Job, error) {
	js, err := kw.st.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(js))
	for i, j := range js {
		out[i] = *toJob(j)
	}
	return out, nil
}

// Job returns one job. ErrNotFound.
func (kw *Keyward) Job(ctx context.Context, id string) (*Job, error) {
	j, err := kw.st.Job(ctx, id)
	if err != nil {
		return nil, jobNotFound(id, err)
	}
	return toJob(j), nil
}

// PauseJob asks a running job to stop after its current batch; ResumeJob
// makes it runnable again. ErrConflict if the job is not running.
func (kw *Keyward) PauseJob(ctx context.Context, id string) (*Job, error) {
	return kw.setJobState(ctx, id, []store.JobState{store.JobRunning}, store.JobPaused)
}

// ResumeJob makes a paused job running again (a running one stays so). It
// does not run it: call RunJob (a server does that itself).
func (kw *Keyward) ResumeJob(ctx context.Context, id string) (*Job, error) {
	return kw.setJobState(ctx, id, []store.JobState{store.JobPaused, store.JobRunning}, store.JobRunning)
}

// CancelJob stops a running or paused job for good, after its current
// batch. What it re-encrypted stays so; the new key versions stay primary
// and the old ones active. If nobody runs the job (or its runner died) and
// it switched maintenance on, the previous switch is restored.
func (kw *Keyward) CancelJob(ctx context.Context, id string) (*Job, error) {
	j, err := kw.setJobState(ctx, id, []store.JobState{store.JobRunning, store.JobPaused}, store.JobCancelled)
	if err != nil {
		return nil, err
	}
	sj, err := kw.st.Job(ctx, id)
	if err == nil && (sj.Owner == "" || time.Since(sj.Heartbeat) > kw.jobLeaseTTL()) {
		var spec jobSpec
		if json.Unmarshal([]byte(sj.Spec), &spec) == nil {
			kw.restoreMaintenance(ctx, spec)
		}
	}
	return j, nil
}

func (kw *Keyward) setJobState(ctx context.Context, id string, from []store.JobState, to store.JobState) (*Job, error) {
	j, err := kw.changeJobState(ctx, id, from, to)
	if err := kw.Audit(ctx, "keys.job."+to.String(), "job "+id, err); err != nil {
		return j, err
	}
	return j, nil
}

func (kw *Keyward) changeJobState(ctx context.Context, id string, from []store.JobState, to store.JobState) (*Job, error) {
	j, err := kw.st.SetJobState(ctx, id, from, to, "")
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("keyward: job %s: %w; see `keyward keys jobs show %s`", id, err, id)
	}
	if err != nil {
		return nil, jobNotFound(id, err)
	}
	kw.log.Info("job state changed", "job", id, "state", to.String())
	return toJob(j), nil
}

func jobNotFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keyward: job %q: %w; list the jobs with `keyward keys jobs ls`", id, err)
	}
	return err
}

// toJob turns a stored job into its public form. Spec and counts that do
// not parse show as empty.
func toJob(j store.Job) *Job {
	out := &Job{ID: j.ID, Kind: j.Kind, State: j.State.String(), Error: j.Error, Owner: j.Owner,
		Heartbeat: j.Heartbeat, Created: j.Created, Updated: j.Updated, Databases: []api.JobDatabase{}}
	var spec jobSpec
	if json.Unmarshal([]byte(j.Spec), &spec) == nil {
		out.Offline, out.Rate = spec.Offline, spec.Rate
		for _, d := range spec.Databases {
			out.Databases = append(out.Databases, api.JobDatabase{Name: d.Name, Target: d.Target, Old: d.Old})
		}
	}
	_ = json.Unmarshal([]byte(j.Counts), &out.Progress)
	return out
}

// DestroyKey deletes the material of a retired data key version. It is
// refused (ErrConflict) while the version is primary or active or any
// entry or attachment uses it. Data on a destroyed version can never be
// decrypted again, even from a backup of the store: keep a key export.
func (kw *Keyward) DestroyKey(ctx context.Context, dbName string, version uint32) error {
	return kw.Audit(ctx, "keys.destroy", fmt.Sprintf("database %s version %d", dbName, version), kw.destroyKey(ctx, dbName, version))
}

func (kw *Keyward) destroyKey(ctx context.Context, dbName string, version uint32) error {
	if kw.Sealed() {
		return fmt.Errorf("keyward: destroy key: %w", ErrSealed)
	}
	d, err := kw.Database(ctx, dbName)
	if err != nil {
		return err
	}
	if err := kw.st.DestroyDataKey(ctx, d.db.ID, version); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("keyward: destroy key version %d of %q: %w; only a retired version that nothing uses "+
				"can be destroyed: run `keyward keys regenerate --db %s` first", version, dbName, err, dbName)
		}
		return fmt.Errorf("keyward: destroy key version %d of %q: %w", version, dbName, err)
	}
	kw.kr.Forget(d.db.ID, version)
	kw.log.Info("data key destroyed", "database", dbName, "version", version)
	return nil
}
