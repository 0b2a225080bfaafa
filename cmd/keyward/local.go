package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
)

// scryptWorkFactor, when set, replaces age's scrypt work factor (2^18) in
// passphrase exports. Tests lower it; an import reads it from the file.
var scryptWorkFactor int

// localBackend is the data directory, opened by this process.
type localBackend struct {
	kw        *keyward.Keyward
	dir       string
	unlockErr error // why no slot unlocked (allowSealed)
}

var _ backend = (*localBackend)(nil)

func (a *app) local(s *settings, mode openMode) (*localBackend, error) {
	cfg, err := a.libConfig(s)
	if err != nil {
		return nil, err
	}
	b := &localBackend{dir: s.DataDir}
	switch mode {
	case needUnlocked:
		b.kw, err = keyward.Open(a.ctx, cfg)
	case allowSealed:
		if b.kw, err = keyward.OpenSealed(a.ctx, cfg); err == nil {
			b.unlockErr = b.kw.Unlock(a.ctx)
		}
	case stayLocked:
		b.kw, err = keyward.OpenSealed(a.ctx, a.baseConfig(s))
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *localBackend) Where() string { return b.dir }

func (b *localBackend) Close() error {
	if err := b.kw.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (b *localBackend) Databases(ctx context.Context) ([]keyward.DatabaseInfo, error) {
	return b.kw.Databases(ctx)
}

func (b *localBackend) CreateDatabase(ctx context.Context, name string) error {
	_, err := b.kw.CreateDatabase(ctx, name)
	return err
}

func (b *localBackend) Get(ctx context.Context, db, path string) (keyward.Entry, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return keyward.Entry{}, err
	}
	return d.Get(ctx, path)
}

func (b *localBackend) Put(ctx context.Context, db string, e keyward.Entry, create bool) (keyward.Entry, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return keyward.Entry{}, err
	}
	if create {
		return d.Create(ctx, e)
	}
	return d.Put(ctx, e)
}

func (b *localBackend) Delete(ctx context.Context, db, path string, revision int64) error {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return err
	}
	return d.Delete(ctx, path, revision)
}

func (b *localBackend) List(ctx context.Context, db, prefix string) ([]keyward.Entry, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return nil, err
	}
	return d.List(ctx, prefix)
}

func (b *localBackend) PutAttachment(ctx context.Context, db, path, name string, r io.Reader, _ int64) (keyward.Attachment, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return keyward.Attachment{}, err
	}
	return d.PutAttachment(ctx, path, name, r)
}

func (b *localBackend) OpenAttachment(ctx context.Context, db, path, name string) (io.ReadCloser, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return nil, err
	}
	return d.OpenAttachment(ctx, path, name)
}

func (b *localBackend) Attachments(ctx context.Context, db, path string) ([]keyward.Attachment, error) {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return nil, err
	}
	return d.Attachments(ctx, path)
}

func (b *localBackend) DeleteAttachment(ctx context.Context, db, path, name string) error {
	d, err := b.kw.Database(ctx, db)
	if err != nil {
		return err
	}
	return d.DeleteAttachment(ctx, path, name)
}

func (b *localBackend) Status(ctx context.Context) (api.Status, error, error) {
	st := api.Status{Version: version(), Sealed: b.kw.Sealed()}
	ds, err := b.kw.Status(ctx)
	if err != nil {
		return st, nil, err
	}
	st.Deployment = ds
	if m, err := b.kw.Maintenance(ctx); err == nil {
		st.Maintenance = api.Maintenance(m)
	}
	return st, b.unlockErr, nil
}

func (b *localBackend) Unlock(ctx context.Context, passphrase, recoveryKey string) (*api.SlotAttempt, error) {
	if !b.kw.Sealed() {
		return nil, nil
	}
	var err error
	if passphrase != "" {
		err = b.kw.UnlockWithPassphrase(ctx, passphrase)
	} else {
		err = b.kw.UnlockWithRecoveryKey(ctx, recoveryKey)
	}
	if err != nil {
		return nil, err
	}
	st, err := b.kw.Status(ctx)
	if err != nil || st.UnlockedBy == nil {
		return &api.SlotAttempt{}, err
	}
	return &api.SlotAttempt{ID: st.UnlockedBy.ID, Spec: st.UnlockedBy.Spec}, nil
}

func (b *localBackend) Maintenance(ctx context.Context) (keyward.Maintenance, error) {
	return b.kw.Maintenance(ctx)
}

func (b *localBackend) SetMaintenance(ctx context.Context, enabled bool, reason string) (keyward.Maintenance, error) {
	return b.kw.SetMaintenance(ctx, enabled, reason)
}

func (b *localBackend) CreateToken(ctx context.Context, t tokenRequest) (string, keyward.Token, error) {
	spec := keyward.TokenSpec{Name: t.Name, Role: t.Role, Databases: t.Databases}
	if t.TTL > 0 {
		spec.Expires = time.Now().Add(t.TTL)
	}
	return b.kw.CreateToken(ctx, spec)
}

func (b *localBackend) Tokens(ctx context.Context) ([]keyward.Token, error) {
	return b.kw.Tokens(ctx)
}

func (b *localBackend) DeleteToken(ctx context.Context, id string) error {
	return b.kw.DeleteToken(ctx, id)
}

func (b *localBackend) ExportKeys(ctx context.Context, w io.Writer, req exportRequest) (exportResult, error) {
	var recipients []age.Recipient
	if req.Passphrase != "" {
		r, err := age.NewScryptRecipient(req.Passphrase)
		if err != nil {
			return exportResult{}, err
		}
		if scryptWorkFactor > 0 {
			r.SetWorkFactor(scryptWorkFactor)
		}
		recipients = append(recipients, r)
	}
	for _, s := range req.Recipients {
		r, err := parseRecipient(s)
		if err != nil {
			return exportResult{}, err
		}
		recipients = append(recipients, r)
	}
	sum, err := b.kw.ExportKeys(ctx, w, keyward.ExportOptions{Databases: req.Databases, Recipients: recipients, Armor: req.Armor})
	return exportResult{Databases: len(sum.Databases), Keys: sum.Keys()}, err
}

func (b *localBackend) ImportKeys(ctx context.Context, bn *bundle.Bundle, overwrite, dryRun bool) (api.KeyImportReport, error) {
	return b.kw.ImportKeys(ctx, bn, keyward.ImportOptions{Overwrite: overwrite, DryRun: dryRun})
}
