package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// CreateToken implements [store.Store].
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.ID == "" || t.Role == "" || len(t.Hash) == 0 {
		return store.Token{}, errors.New("sqlite: create token: empty id, role or hash")
	}
	var err error
	if t.Created, err = creationTime(t.Created, time.Now()); err != nil {
		return store.Token{}, fmt.Errorf("sqlite: create token: %w", err)
	}
	var expires sql.NullInt64
	if !t.Expires.IsZero() {
		if _, err := creationTime(t.Expires, time.Time{}); err != nil {
			return store.Token{}, fmt.Errorf("sqlite: create token: expiry: %w", err)
		}
		t.Expires = stamp(t.Expires)
		expires = sql.NullInt64{Int64: nanos(t.Expires), Valid: true}
	}
	dbs, err := encodeTags(t.Databases)
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: create token: databases: %w", err)
	}
	_, err = s.write.ExecContext(ctx,
		"INSERT INTO tokens (id, name, role, databases, hash, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.Name, t.Role, dbs, t.Hash, nanos(t.Created), expires)
	if isDuplicate(err) {
		return store.Token{}, fmt.Errorf("sqlite: create token %s: %w", t.ID, store.ErrExists)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: create token: %w", err)
	}
	t.Databases, _ = decodeTags(dbs)
	return t, nil
}

const tokenColumns = "id, name, role, databases, hash, created, expires"

func scanToken(sc scanner) (store.Token, error) {
	var (
		t       store.Token
		dbs     string
		created int64
		expires sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Role, &dbs, &t.Hash, &created, &expires); err != nil {
		return store.Token{}, err
	}
	t.Created = fromNanos(created)
	if expires.Valid {
		t.Expires = fromNanos(expires.Int64)
	}
	var err error
	t.Databases, err = decodeTags(dbs)
	return t, err
}

// Token implements [store.Store].
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.read.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("sqlite: token %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: token: %w", err)
	}
	return t, nil
}

// Tokens implements [store.Store].
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	out, err := queryAll(ctx, s.read, scanToken, "SELECT "+tokenColumns+" FROM tokens ORDER BY created, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	return out, nil
}

// DeleteToken implements [store.Store].
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM tokens WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlite: delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Maintenance implements [store.Store].
func (s *Store) Maintenance(ctx context.Context) (store.Maintenance, error) {
	var (
		m       store.Maintenance
		enabled int64
		since   int64
	)
	err := s.read.QueryRowContext(ctx, "SELECT enabled, reason, since FROM maintenance WHERE id = 1").
		Scan(&enabled, &m.Reason, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Maintenance{}, nil
	}
	if err != nil {
		return store.Maintenance{}, fmt.Errorf("sqlite: maintenance: %w", err)
	}
	m.Enabled = enabled == 1
	m.Since = fromNanos(since)
	return m, nil
}

// SetMaintenance implements [store.Store].
func (s *Store) SetMaintenance(ctx context.Context, m store.Maintenance) (store.Maintenance, error) {
	var err error
	if m.Since, err = creationTime(m.Since, time.Now()); err != nil {
		return store.Maintenance{}, fmt.Errorf("sqlite: set maintenance: %w", err)
	}
	enabled := 0
	if m.Enabled {
		enabled = 1
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO maintenance (id, enabled, reason, since) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, since = excluded.since`,
		enabled, m.Reason, nanos(m.Since))
	if err != nil {
		return store.Maintenance{}, fmt.Errorf("sqlite: set maintenance: %w", err)
	}
	return m, nil
}
