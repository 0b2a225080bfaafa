package keyward

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
)

// AuditRecord is one record of the audit log.
type AuditRecord = api.AuditRecord

// AuditVerification is what VerifyAudit found.
type AuditVerification = api.AuditVerification

type actorKey struct{}

// WithActor returns a context whose operations are audited as done by
// actor: "token:ID" for an API request (the server sets it), "local:USER"
// for the CLI on a data directory. Without it, the actor is "library".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "library"
}

// AuditError means an operation took effect but its audit record could not
// be written.
type AuditError struct {
	Op  string
	Err error
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("keyward: %s took effect, but its audit record could not be written: %v; check the store (disk full? read-only?)", e.Op, e.Err)
}

// Unwrap returns the store's error.
func (e *AuditError) Unwrap() error { return e.Err }

// Audit appends a record of operation op on target to the audit log: the
// actor comes from ctx (WithActor), the result from opErr ("ok" when nil,
// else an error code such as "sealed" or "not_found", never the message).
// It returns opErr unchanged when opErr is not nil (the record is then best
// effort: a failure to write it is logged), else an *AuditError if the
// record could not be written. Every key operation, slot, token and
// maintenance change and unlock calls it, in one line:
//
//	return kw.Audit(ctx, "keys.export", dbNames, err)
//
// target names what was acted on (ids, names); never put a secret in it.
func (kw *Keyward) Audit(ctx context.Context, op, target string, opErr error) error {
	rec := kw.auditRecord(ctx, op, target, opErr)
	if kw.Sealed() { // a sealed deployment writes nothing: see auditUnlock
		kw.queueAudit(rec)
		return opErr
	}
	_, err := kw.st.AppendAudit(context.WithoutCancel(ctx), rec)
	switch {
	case opErr != nil:
		if err != nil {
			kw.log.Warn("cannot write the audit record of a failed operation", "op", op, "err", err)
		}
		return opErr
	case err != nil:
		kw.log.Error("cannot write an audit record", "op", op, "err", err)
		return &AuditError{Op: op, Err: err}
	}
	return nil
}

func (kw *Keyward) auditRecord(ctx context.Context, op, target string, opErr error) audit.Record {
	return audit.Record{Time: time.Now(), Actor: clean(actorOf(ctx)), Op: op, Target: clean(target), Result: ResultCode(opErr)}
}

// clean makes a field fit an audit record: control characters become
// '?', and it is cut at 1000 bytes (on a rune boundary).
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 1000 {
		cut := 1000
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// ResultCode is the audit log's word for how an operation ended: "ok" for
// nil, else a short code naming the kind of error.
func ResultCode(err error) string {
	var (
		last   *keyring.LastSlotError
		unlock *keyring.UnlockError
		rot    *keyring.RotateError
		ae     *AuditError
	)
	switch {
	case err == nil:
		return audit.ResultOK
	case errors.As(err, &last):
		return "last_slot"
	case errors.As(err, &unlock):
		return "unlock_failed"
	case errors.As(err, &rot):
		return "slots_unavailable"
	case errors.As(err, &ae):
		return "audit_failed"
	case errors.Is(err, ErrSealed):
		return "sealed"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrExists):
		return "exists"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrIntegrity):
		return "integrity"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// AuditQuery selects audit records.
type AuditQuery struct {
	After int64     // records with a greater seq
	Since time.Time // records at or after this time (zero: all)
	Limit int       // at most this many (default 100, at most 10000)
}

// AuditRecords returns the records q selects, oldest first. It works while
// sealed: the log holds no ciphertext.
func (kw *Keyward) AuditRecords(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 10000)
	var out []AuditRecord
	for after := q.After; len(out) < q.Limit; {
		rs, err := kw.st.AuditRecords(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			if (q.Since.IsZero() || !r.Time.Before(q.Since)) && len(out) < q.Limit {
				out = append(out, toAPIRecord(r))
			}
		}
		after = rs[len(rs)-1].Seq
	}
	return out, nil
}

func toAPIRecord(r audit.Record) AuditRecord {
	return AuditRecord{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Op: r.Op, Target: r.Target, Result: r.Result,
		Prev: hex.EncodeToString(r.Prev), Hash: hex.EncodeToString(r.Hash)}
}

// VerifyAudit walks the whole audit log and checks its hash chain and its
// head (see package audit for what that does and cannot detect). anchor,
// if not empty, is a head recorded earlier ("SEQ:HASH") that the log must
// still hold. A broken chain is not an error: the answer says OK false and
// lists the problems. It works while sealed, in constant memory.
func (kw *Keyward) VerifyAudit(ctx context.Context, anchor string) (AuditVerification, error) {
	v := audit.Verifier{}
	if anchor != "" {
		h, err := audit.ParseHead(anchor)
		if err != nil {
			return AuditVerification{}, invalid("%s", err.Error())
		}
		v.Anchor = &h
	}
	head, err := kw.walkAudit(ctx, &v)
	if err != nil {
		return AuditVerification{}, err
	}
	err = v.Finish(head)
	out := AuditVerification{OK: err == nil, Records: v.Records(), Problems: v.Problems()}
	if last := v.Last(); last.Seq > 0 {
		out.Head = audit.FormatHead(last)
	}
	return out, nil
}

// walkAudit feeds every record to v, then reads the head. Records appended
// during the walk put the head beyond the last record read: the walk then
// goes on, so that only records that are really gone count as deleted.
func (kw *Keyward) walkAudit(ctx context.Context, v *audit.Verifier) (audit.Head, error) {
	for {
		for {
			rs, err := kw.st.AuditRecords(ctx, v.Last().Seq, 1000)
			if err != nil {
				return audit.Head{}, err
			}
			if len(rs) == 0 {
				break
			}
			for _, r := range rs {
				v.Next(r)
			}
		}
		head, err := kw.st.AuditHead(ctx)
		if err != nil {
			return audit.Head{}, err
		}
		if head.Seq <= v.Last().Seq {
			return head, nil
		}
		more, err := kw.st.AuditRecords(ctx, v.Last().Seq, 1)
		if err != nil {
			return audit.Head{}, err
		}
		if len(more) == 0 {
			return head, nil
		}
	}
}
