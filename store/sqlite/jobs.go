package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward/store"
)

const jobColumns = "SELECT id, kind, state, spec, cursor, counts, error, owner, heartbeat, created, updated FROM jobs"

func scanJob(sc scanner) (store.Job, error) {
	var (
		j                           store.Job
		state                       string
		heartbeat, created, updated int64
	)
	if err := sc.Scan(&j.ID, &j.Kind, &state, &j.Spec, &j.Cursor, &j.Counts, &j.Error, &j.Owner,
		&heartbeat, &created, &updated); err != nil {
		return store.Job{}, err
	}
	st, ok := store.ParseJobState(state)
	if !ok {
		return store.Job{}, fmt.Errorf("job %s has an unknown state %q", j.ID, state)
	}
	j.State = st
	if heartbeat != 0 {
		j.Heartbeat = fromNanos(heartbeat)
	}
	j.Created, j.Updated = fromNanos(created), fromNanos(updated)
	return j, nil
}

// CreateJob implements [store.Store].
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	if j.ID == "" || j.Kind == "" {
		return store.Job{}, errors.New("sqlite: create job: empty id or kind")
	}
	if j.State.String() == "invalid" {
		return store.Job{}, fmt.Errorf("sqlite: create job: invalid state %d", j.State)
	}
	now := stamp(time.Now())
	_, err := s.write.ExecContext(ctx, `INSERT INTO jobs (id, kind, state, spec, cursor, counts, error, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.Kind, j.State.String(), j.Spec, j.Cursor, j.Counts, j.Error,
		nanos(now), nanos(now))
	if isDuplicate(err) {
		err = store.ErrExists
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("sqlite: create job: %w", err)
	}
	j.Owner, j.Heartbeat, j.Created, j.Updated = "", time.Time{}, now, now
	return j, nil
}

// Job implements [store.Store].
func (s *Store) Job(ctx context.Context, id string) (store.Job, error) {
	return s.job(ctx, s.read, id)
}

func (s *Store) job(ctx context.Context, q querier, id string) (store.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, jobColumns+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("sqlite: job %s: %w", id, err)
	}
	return j, nil
}

// Jobs implements [store.Store].
func (s *Store) Jobs(ctx context.Context) ([]store.Job, error) {
	out, err := queryAll(ctx, s.read, scanJob, jobColumns+" ORDER BY created, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: jobs: %w", err)
	}
	return out, nil
}

// SetJobState implements [store.Store].
func (s *Store) SetJobState(ctx context.Context, id string, from []store.JobState, to store.JobState, errText string) (store.Job, error) {
	if to.String() == "invalid" {
		return store.Job{}, fmt.Errorf("sqlite: set job state: invalid state %d", to)
	}
	var out store.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		j, err := s.job(ctx, tx, id)
		if err != nil {
			return err
		}
		if !slices.Contains(from, j.State) {
			return fmt.Errorf("job %s is %s: %w", id, j.State, store.ErrConflict)
		}
		now := stamp(time.Now())
		_, err = tx.ExecContext(ctx, "UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ?",
			to.String(), errText, nanos(now), id)
		j.State, j.Error, j.Updated = to, errText, now
		out = j
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("sqlite: set job state: %w", err)
	}
	return out, nil
}

// AcquireJob implements [store.Store].
func (s *Store) AcquireJob(ctx context.Context, id, owner string, ttl time.Duration) (store.Job, error) {
	if owner == "" {
		return store.Job{}, errors.New("sqlite: acquire job: empty owner")
	}
	var out store.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		j, err := s.job(ctx, tx, id)
		if err != nil {
			return err
		}
		now := stamp(time.Now())
		switch {
		case j.State != store.JobRunning:
			return fmt.Errorf("job %s is %s, not running: %w", id, j.State, store.ErrConflict)
		case j.Owner != "" && j.Owner != owner && now.Sub(j.Heartbeat) < ttl:
			return fmt.Errorf("job %s is run by another process (heartbeat %s ago): %w",
				id, now.Sub(j.Heartbeat).Round(time.Millisecond), store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, "UPDATE jobs SET owner = ?, heartbeat = ? WHERE id = ?", owner, nanos(now), id)
		j.Owner, j.Heartbeat = owner, now
		out = j
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("sqlite: acquire job: %w", err)
	}
	return out, nil
}

// RenewJob implements [store.Store].
func (s *Store) RenewJob(ctx context.Context, l store.JobLease) error {
	res, err := s.write.ExecContext(ctx, "UPDATE jobs SET heartbeat = ? WHERE id = ? AND owner = ?",
		nanos(time.Now()), l.JobID, l.Owner)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = store.ErrLeaseLost
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: renew job %s: %w", l.JobID, err)
	}
	return nil
}

// ReleaseJob implements [store.Store].
func (s *Store) ReleaseJob(ctx context.Context, l store.JobLease) error {
	_, err := s.write.ExecContext(ctx, "UPDATE jobs SET owner = '', heartbeat = 0 WHERE id = ? AND owner = ?", l.JobID, l.Owner)
	if err != nil {
		return fmt.Errorf("sqlite: release job %s: %w", l.JobID, err)
	}
	return nil
}

// SaveJobProgress implements [store.Store].
func (s *Store) SaveJobProgress(ctx context.Context, l store.JobLease, p store.JobProgress) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return saveProgress(ctx, tx, l, p) })
	if err != nil {
		return fmt.Errorf("sqlite: save job progress: %w", err)
	}
	return nil
}

// saveProgress records p in a transaction if l holds a running job, else
// returns ErrLeaseLost.
func saveProgress(ctx context.Context, q execer, l store.JobLease, p store.JobProgress) error {
	now := nanos(time.Now())
	res, err := q.ExecContext(ctx, `UPDATE jobs SET cursor = ?, counts = ?, heartbeat = ?, updated = ?
		WHERE id = ? AND owner = ? AND state = 'running'`, p.Cursor, p.Counts, now, now, l.JobID, l.Owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrLeaseLost
	}
	return nil
}
