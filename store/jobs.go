package store

import (
	"context"
	"errors"
	"time"
)

// JobStore keeps long-running jobs (key regeneration) and the writes they
// make. A job is run by one process at a time under a lease: the holder
// (Owner) renews its Heartbeat, and another process may take the job over
// once the heartbeat is older than the lease's time to live. Every write a
// job makes to entries or attachments commits in the same transaction as the
// job's progress (cursor and counts), and only while the writer still holds
// the lease and the job is running: a crash loses nothing, a job taken over
// is never written by its previous holder again.
type JobStore interface {
	// CreateJob stores a new job (State must be valid; Owner, Heartbeat
	// and the times are set by the store: no owner, created and updated
	// now). ErrExists if the ID is taken.
	CreateJob(ctx context.Context, j Job) (Job, error)
	// Job returns one job. ErrNotFound.
	Job(ctx context.Context, id string) (Job, error)
	// Jobs returns every job ordered by Created, then ID.
	Jobs(ctx context.Context) ([]Job, error)
	// SetJobState moves a job from one of the states in from to state to,
	// setting its Error to errText (cleared when errText is ""). The lease
	// is kept. ErrNotFound; ErrConflict, changing nothing, if the job is
	// in no state of from.
	SetJobState(ctx context.Context, id string, from []JobState, to JobState, errText string) (Job, error)
	// AcquireJob gives owner the lease of a running job if nobody holds
	// it, owner holds it already, or the holder's heartbeat is older than
	// ttl; the heartbeat becomes now. ErrNotFound; ErrConflict if the job
	// is not running or another owner's lease is still live.
	AcquireJob(ctx context.Context, id, owner string, ttl time.Duration) (Job, error)
	// RenewJob sets the heartbeat of a lease to now. ErrLeaseLost if
	// another owner took the job over.
	RenewJob(ctx context.Context, l JobLease) error
	// ReleaseJob gives a lease up (no owner), so another process may take
	// the job at once. Releasing a lease that is held by another owner
	// does nothing.
	ReleaseJob(ctx context.Context, l JobLease) error
	// SaveJobProgress records the cursor and counts of a running job and
	// renews the lease. ErrLeaseLost if l no longer holds the job or it is
	// not running; nothing changes then.
	SaveJobProgress(ctx context.Context, l JobLease, p JobProgress) error

	// EntriesBelow returns up to limit entries of a database, with their
	// ciphertext, whose KeyVersion is below version and whose ID sorts
	// after afterID, ordered by ID.
	EntriesBelow(ctx context.Context, dbID string, version uint32, afterID string, limit int) ([]Entry, error)
	// AttachmentsBelow returns up to limit committed attachments of a
	// database's entries whose KeyVersion is below version and whose ID
	// sorts after afterID, ordered by ID.
	AttachmentsBelow(ctx context.Context, dbID string, version uint32, afterID string, limit int) ([]Attachment, error)
	// RewriteEntries replaces the ciphertext and key version of entries,
	// each only if the entry still has the ID, Revision and OldVersion of
	// its rewrite (compare-and-swap); Revision, Updated and everything else
	// stay as they are. It records the progress p returns, given which
	// rewrites were applied, in the same transaction (p may be called for a
	// transaction that then rolls back). The result says, per rewrite,
	// whether it was applied. ErrLeaseLost (nothing written) if l no longer
	// holds a running job.
	RewriteEntries(ctx context.Context, l JobLease, rw []EntryRewrite, p func(applied []bool) JobProgress) ([]bool, error)
	// CommitAttachmentRewrite commits w, a writer from BeginAttachment of
	// this store for a new attachment of the same entry and name as the
	// committed attachment oldID, in its place, together with p, in one
	// transaction; the new attachment keeps oldID's Created. If oldID is no
	// longer the committed attachment of that entry and name (it was
	// replaced or deleted), nothing is committed but the progress, and the
	// result is false: the caller then aborts w. The progress recorded is
	// what p returns given that result (p may be called for a transaction
	// that then rolls back). ErrLeaseLost (nothing committed) if l no
	// longer holds a running job.
	CommitAttachmentRewrite(ctx context.Context, l JobLease, w AttachmentWriter, final Attachment, oldID string, p func(swapped bool) JobProgress) (bool, error)

	// SetDataKeyState changes the state of a data key version between
	// KeyActive and KeyRetired (a primary is made with AddDataKey).
	// Retiring a version that entries or attachments use is ErrConflict.
	// ErrNotFound.
	SetDataKeyState(ctx context.Context, dbID string, version uint32, state KeyState) error
	// DestroyDataKey deletes a retired data key version. ErrConflict,
	// changing nothing, if it is not retired or any entry or attachment
	// uses it; ErrNotFound.
	DestroyDataKey(ctx context.Context, dbID string, version uint32) error
}

// ErrLeaseLost means a job's lease is held by another process now, or the
// job is no longer running (paused, cancelled, finished): its holder must
// stop without writing.
var ErrLeaseLost = errors.New("store: job lease lost (taken over, paused or cancelled)")

// JobState is the life-cycle state of a job. The zero value is invalid.
type JobState int

// Job states.
const (
	JobRunning   JobState = iota + 1 // to be run (by the lease holder)
	JobPaused                        // stopped between batches; can be resumed
	JobCancelled                     // stopped for good
	JobDone                          // finished
	JobFailed                        // finished with an error (Error)
)

func (s JobState) String() string {
	switch s {
	case JobRunning:
		return "running"
	case JobPaused:
		return "paused"
	case JobCancelled:
		return "cancelled"
	case JobDone:
		return "done"
	case JobFailed:
		return "failed"
	}
	return "invalid"
}

// ParseJobState reads a JobState from its String form.
func ParseJobState(s string) (JobState, bool) {
	for st := JobRunning; st <= JobFailed; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Job is a long-running operation as stored. Spec, Cursor and Counts are
// opaque to the store (JSON written by the job's kind) and hold no secret.
type Job struct {
	ID        string
	Kind      string // e.g. "regenerate"
	State     JobState
	Spec      string // what the job does: databases, target versions, options
	Cursor    string // where it is
	Counts    string // what it has done
	Error     string
	Owner     string    // the lease holder, "" for none
	Heartbeat time.Time // the holder's last renewal
	Created   time.Time
	Updated   time.Time
}

// JobLease names a job and the owner that holds (or held) its lease.
type JobLease struct {
	JobID string
	Owner string
}

// JobProgress is what a job records with each batch.
type JobProgress struct {
	Cursor string
	Counts string
}

// EntryRewrite is a new ciphertext for an entry, under compare-and-swap on
// its ID, Revision and OldVersion.
type EntryRewrite struct {
	ID         string
	Revision   int64
	OldVersion uint32
	NewVersion uint32
	Ciphertext []byte
}
