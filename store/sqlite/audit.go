package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/store"
)

// AppendAudit implements [store.Store]. The head is read inside the BEGIN
// IMMEDIATE transaction, which holds the file's write lock, so appends from
// several processes chain one after the other.
func (s *Store) AppendAudit(ctx context.Context, r audit.Record) (audit.Record, error) {
	var out audit.Record
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = appendAudit(ctx, tx, r)
		return err
	})
	if err != nil {
		return audit.Record{}, fmt.Errorf("sqlite: append audit record: %w", err)
	}
	return out, nil
}

func appendAudit(ctx context.Context, tx *sql.Tx, r audit.Record) (audit.Record, error) {
	if err := audit.Check(r); err != nil {
		return audit.Record{}, err
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	head, err := auditHead(ctx, tx)
	if err != nil {
		return audit.Record{}, err
	}
	r = audit.Chain(r, head)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit (seq, time, actor, op, target, result, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, nanos(r.Time), r.Actor, r.Op, r.Target, r.Result, r.Prev, r.Hash)
	if err != nil {
		return audit.Record{}, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, r.Seq, r.Hash)
	if err != nil {
		return audit.Record{}, err
	}
	r.Time = fromNanos(nanos(r.Time))
	return r, nil
}

func auditHead(ctx context.Context, q querier) (audit.Head, error) {
	var h audit.Head
	err := q.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	return h, err
}

// AuditHead implements [store.Store].
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	h, err := auditHead(ctx, s.read)
	if err != nil {
		return audit.Head{}, fmt.Errorf("sqlite: audit head: %w", err)
	}
	return h, nil
}

// AuditRecords implements [store.Store].
func (s *Store) AuditRecords(ctx context.Context, after int64, limit int) ([]audit.Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	scan := func(sc scanner) (audit.Record, error) {
		var (
			r audit.Record
			t int64
		)
		err := sc.Scan(&r.Seq, &t, &r.Actor, &r.Op, &r.Target, &r.Result, &r.Prev, &r.Hash)
		r.Time = fromNanos(t)
		return r, err
	}
	out, err := queryAll(ctx, s.read, scan, `SELECT seq, time, actor, op, target, result, prev, hash
		FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit records: %w", err)
	}
	return out, nil
}

// RewrapAll implements [store.Store].
func (s *Store) RewrapAll(ctx context.Context, r store.Rewrap) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkRoot(ctx, tx, r.OldRoot); err != nil {
			return err
		}
		if err := moveRoot(ctx, tx, r.NewRoot); err != nil {
			return err
		}
		if err := rewrapSlots(ctx, tx, r); err != nil {
			return err
		}
		if err := rewrapKeys(ctx, tx, r.Keys); err != nil {
			return err
		}
		if r.Audit != nil {
			if _, err := appendAudit(ctx, tx, *r.Audit); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: rewrap: %w", err)
	}
	return nil
}

func rewrapSlots(ctx context.Context, tx *sql.Tx, r store.Rewrap) error {
	for _, sl := range r.Slots {
		res, err := tx.ExecContext(ctx, "UPDATE slots SET blob = ? WHERE id = ? AND blob = ?", nonNil(sl.New), sl.ID, nonNil(sl.Old))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("slot %d changed or was removed meanwhile: %w", sl.ID, store.ErrConflict)
		}
	}
	for _, id := range r.Drop {
		res, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("slot %d was removed meanwhile: %w", id, store.ErrConflict)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM slots").Scan(&n); err != nil {
		return err
	}
	if n != len(r.Slots) {
		return fmt.Errorf("a slot was added meanwhile: %w", store.ErrConflict)
	}
	return nil
}

func rewrapKeys(ctx context.Context, tx *sql.Tx, keys []store.KeyBlob) error {
	st, err := tx.PrepareContext(ctx, "UPDATE data_keys SET wrapped = ? WHERE database_id = ? AND version = ? AND wrapped = ?")
	if err != nil {
		return err
	}
	defer st.Close()
	for _, k := range keys {
		res, err := st.ExecContext(ctx, nonNil(k.New), k.DatabaseID, int64(k.Version), nonNil(k.Old))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("data key %d of database %s changed or was removed meanwhile: %w", k.Version, k.DatabaseID, store.ErrConflict)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM data_keys").Scan(&n); err != nil {
		return err
	}
	if n != len(keys) {
		return fmt.Errorf("a data key was added meanwhile: %w", store.ErrConflict)
	}
	return nil
}
