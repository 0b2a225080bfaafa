package main

import (
	"context"
	"errors"
	"filippo.io/age"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// jobBackend is what `keys regenerate`, `keys jobs` and `keys destroy`
// need; both backends implement it.
type jobBackend interface {
	CountRegenerate(ctx context.Context, dbs []string) ([]api.RegenerateCount, error)
	// Regenerate starts a job; local backends write the backup first.
	Regenerate(ctx context.Context, o keyward.RegenerateOptions) (*api.Job, error)
	// Follow runs the job here (local) or watches the server run it
	// (remote) until it stops, reporting progress.
	Follow(ctx context.Context, id string, progress func(keyward.JobProgress)) error
	Jobs(ctx context.Context) ([]api.Job, error)
	Job(ctx context.Context, id string) (*api.Job, error)
	JobAction(ctx context.Context, id, action string) (*api.Job, error)
	DestroyKey(ctx context.Context, db string, version uint32) error
}

var (
	_ jobBackend = (*localBackend)(nil)
	_ jobBackend = (*remoteBackend)(nil)
)

func (b *localBackend) CountRegenerate(ctx context.Context, dbs []string) ([]api.RegenerateCount, error) {
	return b.kw.CountRegenerate(ctx, dbs)
}

func (b *localBackend) Regenerate(ctx context.Context, o keyward.RegenerateOptions) (*api.Job, error) {
	return b.kw.Regenerate(ctx, o)
}

func (b *localBackend) Follow(ctx context.Context, id string, progress func(keyward.JobProgress)) error {
	return b.kw.RunJob(ctx, id, progress)
}

func (b *localBackend) Jobs(ctx context.Context) ([]api.Job, error) { return b.kw.Jobs(ctx) }

func (b *localBackend) Job(ctx context.Context, id string) (*api.Job, error) {
	return b.kw.Job(ctx, id)
}

func (b *localBackend) JobAction(ctx context.Context, id, action string) (*api.Job, error) {
	switch action {
	case "pause":
		return b.kw.PauseJob(ctx, id)
	case "resume":
		return b.kw.ResumeJob(ctx, id)
	}
	return b.kw.CancelJob(ctx, id)
}

func (b *localBackend) DestroyKey(ctx context.Context, db string, version uint32) error {
	return b.kw.DestroyKey(ctx, db, version)
}

func (b *remoteBackend) CountRegenerate(ctx context.Context, dbs []string) ([]api.RegenerateCount, error) {
	d, err := b.c.RegenerateDryRun(ctx, dbs)
	return d.Databases, b.wrap(err)
}

// Regenerate in client mode: the server writes no backup, so the backup is
// an export the server makes to the --recipient public keys (it never
// exports with a passphrase), written here before the job starts.
func (b *remoteBackend) Regenerate(ctx context.Context, o keyward.RegenerateOptions) (*api.Job, error) {
	if !o.NoBackup {
		var rs []string
		for _, r := range o.Recipients {
			x, ok := r.(*age.X25519Recipient)
			if !ok {
				return nil, fmt.Errorf("%w: in client mode the backup goes to age public keys (--recipient age1…): "+
					"a keyward server never exports with a passphrase", keyward.ErrInvalid)
			}
			rs = append(rs, x.String())
		}
		exp, err := b.c.ExportKeys(ctx, api.KeyExportRequest{Databases: o.Databases, Recipients: rs})
		if err != nil {
			return nil, b.wrap(err)
		}
		if _, err := o.Backup.Write(exp.File); err != nil {
			return nil, fmt.Errorf("backup: %w; nothing was started", err)
		}
	}
	j, err := b.c.Regenerate(ctx, api.RegenerateRequest{Databases: o.Databases, Offline: o.Offline, Rate: o.Rate})
	if err != nil {
		return nil, b.wrap(err)
	}
	return &j, nil
}

// followPoll is how often client mode asks the server for a job's progress.
const followPoll = time.Second

func (b *remoteBackend) Follow(ctx context.Context, id string, progress func(keyward.JobProgress)) error {
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		j, err := b.c.Job(ctx, id)
		if err != nil {
			return b.wrap(err)
		}
		if progress != nil {
			progress(keyward.JobProgress{JobID: j.ID, Pass: j.Progress.Pass, Phase: j.State,
				Done: j.Progress.Entries + j.Progress.Attachments, Total: j.Progress.Total,
				Skipped: j.Progress.Skipped, Failed: j.Progress.FailedCount})
		}
		switch j.State {
		case "failed":
			return errors.New("job " + id + " failed: " + j.Error)
		case "running":
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (b *remoteBackend) Jobs(ctx context.Context) ([]api.Job, error) {
	j, err := b.c.Jobs(ctx)
	return j, b.wrap(err)
}

func (b *remoteBackend) Job(ctx context.Context, id string) (*api.Job, error) {
	j, err := b.c.Job(ctx, id)
	if err != nil {
		return nil, b.wrap(err)
	}
	return &j, nil
}

func (b *remoteBackend) JobAction(ctx context.Context, id, action string) (*api.Job, error) {
	j, err := b.c.JobAction(ctx, id, action)
	if err != nil {
		return nil, b.wrap(err)
	}
	return &j, nil
}

func (b *remoteBackend) DestroyKey(ctx context.Context, db string, version uint32) error {
	return b.wrap(b.c.DestroyKey(ctx, db, version))
}
