package main

import (
	"context"
	"os/user"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// keysBackend is the part of backend that rotate-root, verify and the
// audit commands use.
type keysBackend interface {
	// RotateRoot replaces the root key. recoveryKey, if set, lets the
	// recovery slot wrap the new one.
	RotateRoot(ctx context.Context, dropUnavailable bool, recoveryKey string) (keyward.RotateSummary, error)
	// Verify calls report for each ciphertext that fails. truncated is
	// true when a server listed fewer failures than it found.
	Verify(ctx context.Context, dbs []string, report func(keyward.VerifyFailure), progress func(string, keyward.VerifySummary)) (sum keyward.VerifySummary, truncated bool, err error)
	AuditRecords(ctx context.Context, q keyward.AuditQuery) ([]keyward.AuditRecord, error)
	VerifyAudit(ctx context.Context, anchor string) (keyward.AuditVerification, error)
}

// localActor names the CLI user in audit records: "local:<OS user>".
func localActor(getenv func(string) (string, bool)) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	if getenv != nil {
		if u, ok := getenv("USER"); ok && u != "" {
			return "local:" + u
		}
	}
	return "local:unknown"
}

func (b *localBackend) RotateRoot(ctx context.Context, drop bool, rk string) (keyward.RotateSummary, error) {
	return b.kw.RotateRoot(ctx, keyward.RotateOptions{DropUnavailableSlots: drop, RecoveryKey: rk})
}

func (b *localBackend) Verify(ctx context.Context, dbs []string, report func(keyward.VerifyFailure), progress func(string, keyward.VerifySummary)) (keyward.VerifySummary, bool, error) {
	sum, err := b.kw.Verify(ctx, keyward.VerifyOptions{Databases: dbs, Progress: progress}, report)
	return sum, false, err
}

func (b *localBackend) AuditRecords(ctx context.Context, q keyward.AuditQuery) ([]keyward.AuditRecord, error) {
	return b.kw.AuditRecords(ctx, q)
}

func (b *localBackend) VerifyAudit(ctx context.Context, anchor string) (keyward.AuditVerification, error) {
	return b.kw.VerifyAudit(ctx, anchor)
}

func (b *remoteBackend) RotateRoot(ctx context.Context, drop bool, rk string) (keyward.RotateSummary, error) {
	s, err := b.c.RotateRoot(ctx, api.RotateRootRequest{DropUnavailableSlots: drop, RecoveryKey: rk})
	return s, b.wrap(err)
}

func (b *remoteBackend) Verify(ctx context.Context, dbs []string, report func(keyward.VerifyFailure), _ func(string, keyward.VerifySummary)) (keyward.VerifySummary, bool, error) {
	res, err := b.c.Verify(ctx, api.VerifyRequest{Databases: dbs})
	if err != nil {
		return keyward.VerifySummary{}, false, b.wrap(err)
	}
	for _, f := range res.Failures {
		report(f)
	}
	return res.Summary, res.Truncated, nil
}

func (b *remoteBackend) AuditRecords(ctx context.Context, q keyward.AuditQuery) ([]keyward.AuditRecord, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []keyward.AuditRecord
	for len(out) < q.Limit {
		page, err := b.c.Audit(ctx, q.After, q.Since, min(q.Limit-len(out), api.MaxLimit))
		if err != nil {
			return nil, b.wrap(err)
		}
		out = append(out, page.Records...)
		if page.Next == 0 || len(page.Records) == 0 {
			break
		}
		q.After = page.Next
	}
	return out, nil
}

func (b *remoteBackend) VerifyAudit(ctx context.Context, anchor string) (keyward.AuditVerification, error) {
	v, err := b.c.VerifyAudit(ctx, anchor)
	return v, b.wrap(err)
}

var (
	_ keysBackend = (*localBackend)(nil)
	_ keysBackend = (*remoteBackend)(nil)
)
