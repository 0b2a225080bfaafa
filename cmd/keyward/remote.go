package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"filippo.io/age/armor"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/client"
)

// remoteBackend is a keyward server, reached through its HTTP API.
type remoteBackend struct {
	c        *client.Client
	hasToken bool
}

var _ backend = (*remoteBackend)(nil)

func (a *app) remote(s *settings) (*remoteBackend, error) {
	opts := []client.Option{client.WithUserAgent("keyward-cli/" + strings.Fields(version())[0])}
	token, err := a.readToken(s)
	if err != nil {
		return nil, err
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	if s.CACert != "" {
		opts = append(opts, client.WithCACertFile(s.CACert))
	}
	c, err := client.New(s.Server, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w; check --server / KEYWARD_ADDR", err)
	}
	return &remoteBackend{c: c, hasToken: token != ""}, nil
}

func (b *remoteBackend) Where() string { return b.c.URL() }
func (b *remoteBackend) Close() error  { return nil }

// remoteError makes a client error match the root package's sentinels and
// adds what to do next.
type remoteError struct {
	err  error
	hint string
}

var sentinelPairs = []struct{ client, local error }{
	{client.ErrNotFound, keyward.ErrNotFound},
	{client.ErrExists, keyward.ErrExists},
	{client.ErrConflict, keyward.ErrConflict},
	{client.ErrSealed, keyward.ErrSealed},
	{client.ErrIntegrity, keyward.ErrIntegrity},
	{client.ErrInvalid, keyward.ErrInvalid},
	{client.ErrUnauthorized, keyward.ErrUnauthorized},
}

func (e *remoteError) Error() string {
	if e.hint == "" {
		return e.err.Error()
	}
	return e.err.Error() + "; " + e.hint
}

func (e *remoteError) Unwrap() error { return e.err }

func (e *remoteError) Is(target error) bool {
	for _, p := range sentinelPairs {
		if target == p.local {
			return errors.Is(e.err, p.client)
		}
	}
	return false
}

// wrap turns a client error into a remoteError with a hint.
func (b *remoteBackend) wrap(err error) error {
	if err == nil {
		return nil
	}
	var ae *client.Error
	var te *client.TransportError
	e := &remoteError{err: err}
	switch {
	case errors.As(err, &te):
		e.hint = "is the server running, and are --server / KEYWARD_ADDR and --ca-cert right?"
	case errors.Is(err, client.ErrUnauthorized) && !b.hasToken:
		e.hint = "give a token with --token-file FILE, KEYWARD_TOKEN or token_file in the config (an admin makes one with `keyward token create`)"
	case errors.Is(err, client.ErrUnauthorized):
		e.hint = "the token is wrong, revoked or expired: ask an admin for a new one (`keyward token create`)"
	case errors.Is(err, client.ErrForbidden):
		e.hint = "this token's role or databases do not allow it: ask an admin for a token that does (`keyward token create --role writer --db NAME`)"
	case errors.Is(err, client.ErrSealed):
		e.hint = "the server is sealed: unlock it with `keyward unlock --passphrase-env VAR` (or --passphrase-file FILE, or --recovery-key-file FILE) and an admin token"
	case errors.Is(err, client.ErrMaintenance):
		e.hint = "the server is in maintenance: retry later"
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			e.hint += fmt.Sprintf(" (in %s)", ae.RetryAfter)
		}
		e.hint += ", or an admin ends it with `keyward maintenance off`"
	case errors.Is(err, client.ErrUnavailable):
		e.hint = "the server cannot serve now (shutting down, or its store is unreachable): retry later"
	case errors.Is(err, client.ErrUnlockFailed) && errors.As(err, &ae):
		e.hint = slotReasons(ae.Slots)
	case errors.As(err, &ae) && ae.Status == http.StatusInternalServerError && !errors.Is(err, client.ErrIntegrity):
		e.hint = "the server's log has the details"
	}
	return e
}

func slotReasons(slots []api.SlotAttempt) string {
	var parts []string
	for _, s := range slots {
		parts = append(parts, fmt.Sprintf("slot %d (%s): %s", s.ID, printable(s.Spec), printable(s.Error)))
	}
	if len(parts) == 0 {
		return "nothing opened a slot"
	}
	return strings.Join(parts, "; ")
}

func (b *remoteBackend) Databases(ctx context.Context) ([]keyward.DatabaseInfo, error) {
	dbs, err := b.c.Databases(ctx)
	out := make([]keyward.DatabaseInfo, len(dbs))
	for i, d := range dbs {
		out[i] = keyward.DatabaseInfo{Name: d.Name, Created: d.Created}
	}
	return out, b.wrap(err)
}

func (b *remoteBackend) CreateDatabase(ctx context.Context, name string) error {
	_, err := b.c.CreateDatabase(ctx, name)
	return b.wrap(err)
}

func fromAPIEntry(e api.Entry) keyward.Entry {
	return keyward.Entry{Path: e.Path, Type: e.Type, Tags: e.Tags, Fields: e.Fields, Revision: e.Revision,
		KeyVersion: e.KeyVersion, Created: e.Created, Updated: e.Updated}
}

func (b *remoteBackend) Get(ctx context.Context, db, path string) (keyward.Entry, error) {
	e, err := b.c.Get(ctx, db, path)
	return fromAPIEntry(e), b.wrap(err)
}

func (b *remoteBackend) Put(ctx context.Context, db string, e keyward.Entry, create bool) (keyward.Entry, error) {
	pe := api.PutEntry{Fields: e.Fields, Type: e.Type, Tags: e.Tags, Revision: e.Revision}
	var got api.Entry
	var err error
	if create {
		got, err = b.c.Create(ctx, db, e.Path, pe)
	} else {
		got, err = b.c.Put(ctx, db, e.Path, pe)
	}
	return fromAPIEntry(got), b.wrap(err)
}

func (b *remoteBackend) Delete(ctx context.Context, db, path string, revision int64) error {
	return b.wrap(b.c.Delete(ctx, db, path, revision))
}

func (b *remoteBackend) List(ctx context.Context, db, prefix string) ([]keyward.Entry, error) {
	es, err := b.c.ListAll(ctx, db, prefix)
	out := make([]keyward.Entry, len(es))
	for i, e := range es {
		out[i] = fromAPIEntry(e)
	}
	return out, b.wrap(err)
}

func fromAPIAttachment(a api.Attachment) keyward.Attachment {
	return keyward.Attachment{Name: a.Name, Size: a.Size, KeyVersion: a.KeyVersion, Created: a.Created}
}

func (b *remoteBackend) PutAttachment(ctx context.Context, db, path, name string, r io.Reader, size int64) (keyward.Attachment, error) {
	a, err := b.c.PutAttachment(ctx, db, path, name, r, size)
	return fromAPIAttachment(a), b.wrap(err)
}

func (b *remoteBackend) OpenAttachment(ctx context.Context, db, path, name string) (io.ReadCloser, error) {
	rc, err := b.c.OpenAttachment(ctx, db, path, name)
	return rc, b.wrap(err)
}

func (b *remoteBackend) Attachments(ctx context.Context, db, path string) ([]keyward.Attachment, error) {
	as, err := b.c.Attachments(ctx, db, path)
	out := make([]keyward.Attachment, len(as))
	for i, a := range as {
		out[i] = fromAPIAttachment(a)
	}
	return out, b.wrap(err)
}

func (b *remoteBackend) DeleteAttachment(ctx context.Context, db, path, name string) error {
	return b.wrap(b.c.DeleteAttachment(ctx, db, path, name))
}

func (b *remoteBackend) Status(ctx context.Context) (api.Status, error, error) {
	st, err := b.c.Status(ctx)
	if err != nil {
		return st, nil, b.wrap(err)
	}
	var unlockErr error
	if st.Sealed {
		unlockErr = b.wrap(&client.Error{Status: http.StatusServiceUnavailable, Code: api.CodeSealed, Message: "the server is sealed"})
	}
	return st, unlockErr, nil
}

func (b *remoteBackend) Unlock(ctx context.Context, passphrase, recoveryKey string) (*api.SlotAttempt, error) {
	res, err := b.c.Unlock(ctx, api.UnlockRequest{Passphrase: passphrase, RecoveryKey: recoveryKey})
	if err != nil {
		return nil, b.wrap(err)
	}
	if res.Already {
		return nil, nil
	}
	if res.Slot == nil {
		return &api.SlotAttempt{}, nil
	}
	return res.Slot, nil
}

func (b *remoteBackend) Maintenance(ctx context.Context) (keyward.Maintenance, error) {
	m, err := b.c.Maintenance(ctx)
	return keyward.Maintenance(m), b.wrap(err)
}

func (b *remoteBackend) SetMaintenance(ctx context.Context, enabled bool, reason string) (keyward.Maintenance, error) {
	m, err := b.c.SetMaintenance(ctx, enabled, reason)
	return keyward.Maintenance(m), b.wrap(err)
}

func fromAPIToken(t api.Token) keyward.Token {
	return keyward.Token{ID: t.ID, Name: t.Name, Role: keyward.Role(t.Role), Databases: t.Databases, Created: t.Created, Expires: t.Expires}
}

func (b *remoteBackend) CreateToken(ctx context.Context, t tokenRequest) (string, keyward.Token, error) {
	req := api.CreateToken{Name: t.Name, Role: string(t.Role), Databases: t.Databases}
	if t.TTL > 0 {
		req.TTL = t.TTL.String()
	}
	tc, err := b.c.CreateToken(ctx, req)
	return tc.Secret, fromAPIToken(tc.Token), b.wrap(err)
}

func (b *remoteBackend) Tokens(ctx context.Context) ([]keyward.Token, error) {
	ts, err := b.c.Tokens(ctx)
	out := make([]keyward.Token, len(ts))
	for i, t := range ts {
		out[i] = fromAPIToken(t)
	}
	return out, b.wrap(err)
}

func (b *remoteBackend) DeleteToken(ctx context.Context, id string) error {
	return b.wrap(b.c.DeleteToken(ctx, id))
}

func (b *remoteBackend) ExportKeys(ctx context.Context, w io.Writer, req exportRequest) (exportResult, error) {
	if req.Passphrase != "" {
		return exportResult{}, errors.New("a keyward server exports only to age public keys (--recipient age1…), never with a passphrase: " +
			"give --recipient, or make the passphrase export without --server where the data directory is")
	}
	exp, err := b.c.ExportKeys(ctx, api.KeyExportRequest{Databases: req.Databases, Recipients: req.Recipients})
	if err != nil {
		return exportResult{}, b.wrap(err)
	}
	res := exportResult{Databases: exp.Databases, Keys: exp.Keys}
	if req.Armor {
		_, err = w.Write(exp.File)
		return res, err
	}
	// The server armors every export; --armor decides what is written.
	_, err = io.Copy(w, armor.NewReader(bytes.NewReader(exp.File)))
	return res, err
}

func (b *remoteBackend) ImportKeys(ctx context.Context, bn *bundle.Bundle, overwrite, dryRun bool) (api.KeyImportReport, error) {
	rep, err := b.c.ImportBundle(ctx, bn, overwrite, dryRun)
	return rep, b.wrap(err)
}
