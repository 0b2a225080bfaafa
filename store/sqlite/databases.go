package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/keyward/keyward/store"
)

// CreateDatabase implements [store.Store]. A zero Created (of db or first)
// means now; an empty first.DatabaseID means db.ID.
func (s *Store) CreateDatabase(ctx context.Context, db store.Database, first store.DataKey) error {
	if err := checkName("database name", db.Name); err != nil {
		return fmt.Errorf("sqlite: create database: %w", err)
	}
	if db.ID == "" {
		return errors.New("sqlite: create database: empty id")
	}
	if first.DatabaseID == "" {
		first.DatabaseID = db.ID
	}
	if first.DatabaseID != db.ID || first.State != store.KeyPrimary {
		return errors.New("sqlite: create database: the first data key must belong to the database and be primary")
	}
	now := time.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkRoot(ctx, tx, first.Root); err != nil {
			return err
		}
		if err := insertDatabase(ctx, tx, db, now); err != nil {
			return err
		}
		return insertDataKey(ctx, tx, first, now)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create database: %w", err)
	}
	return nil
}

// insertDatabase stores a database row. ErrExists if its id or name is
// taken.
func insertDatabase(ctx context.Context, tx *sql.Tx, db store.Database, now time.Time) error {
	c, err := creationTime(db.Created, now)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO databases (id, name, created) VALUES (?, ?, ?)",
		db.ID, db.Name, nanos(c))
	if isDuplicate(err) {
		return store.ErrExists
	}
	return err
}

const databaseColumns = "SELECT id, name, created FROM databases"

func scanDatabase(sc scanner) (store.Database, error) {
	var (
		d       store.Database
		created int64
	)
	err := sc.Scan(&d.ID, &d.Name, &created)
	d.Created = fromNanos(created)
	return d, err
}

// Database implements [store.Store].
func (s *Store) Database(ctx context.Context, name string) (store.Database, error) {
	d, err := scanDatabase(s.queryRow(ctx, databaseColumns+" WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Database{}, fmt.Errorf("sqlite: database: %w", err)
	}
	return d, nil
}

// Databases implements [store.Store].
func (s *Store) Databases(ctx context.Context) ([]store.Database, error) {
	out, err := queryAll(ctx, s.read, scanDatabase, databaseColumns+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: databases: %w", err)
	}
	return out, nil
}

// DataKeys implements [store.Store].
func (s *Store) DataKeys(ctx context.Context, dbID string) ([]store.DataKey, error) {
	out, err := queryAll(ctx, s.read, scanDataKey, dataKeyColumns+` WHERE database_id = ? ORDER BY version`, dbID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: data keys: %w", err)
	}
	return out, nil
}

// AllDataKeys implements [store.Store].
func (s *Store) AllDataKeys(ctx context.Context) ([]store.DataKey, error) {
	out, err := queryAll(ctx, s.read, scanDataKey, dataKeyColumns+` ORDER BY database_id, version`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: data keys: %w", err)
	}
	return out, nil
}

const dataKeyColumns = "SELECT database_id, version, state, wrapped, created, encryptions FROM data_keys"

func scanDataKey(sc scanner) (store.DataKey, error) {
	var (
		k              store.DataKey
		state          string
		created, count int64
	)
	if err := sc.Scan(&k.DatabaseID, &k.Version, &state, &k.Wrapped, &created, &count); err != nil {
		return k, err
	}
	k.Created, k.Encryptions = fromNanos(created), uint64(count)
	var err error
	k.State, err = parseState(state)
	return k, err
}

// AddDataKey implements [store.Store]. ErrNotFound if the database does not
// exist. A zero Created means now.
func (s *Store) AddDataKey(ctx context.Context, k store.DataKey) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkRoot(ctx, tx, k.Root); err != nil {
			return err
		}
		return insertDataKey(ctx, tx, k, time.Now())
	})
	if err != nil {
		return fmt.Errorf("sqlite: add data key: %w", err)
	}
	return nil
}

func insertDataKey(ctx context.Context, tx *sql.Tx, k store.DataKey, now time.Time) error {
	state, err := stateText(k.State)
	if err != nil {
		return err
	}
	if k.Version == 0 {
		return errors.New("data key version 0 (versions start at 1)")
	}
	if k.Encryptions > math.MaxInt64 {
		return errors.New("encryption count out of range")
	}
	c, err := creationTime(k.Created, now)
	if err != nil {
		return err
	}
	var exists bool
	err = tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM data_keys WHERE database_id = ? AND version = ?)",
		k.DatabaseID, k.Version).Scan(&exists)
	if err != nil {
		return err
	}
	if exists {
		return store.ErrExists
	}
	if k.State == store.KeyPrimary {
		_, err := tx.ExecContext(ctx, "UPDATE data_keys SET state = 'active' WHERE database_id = ? AND state = 'primary'",
			k.DatabaseID)
		if err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO data_keys (database_id, version, state, wrapped, created, encryptions)
		VALUES (?, ?, ?, ?, ?, ?)`, k.DatabaseID, k.Version, state, nonNil(k.Wrapped),
		nanos(c), int64(k.Encryptions))
	if isConstraint(err, codeForeignKey) {
		return fmt.Errorf("unknown database: %w", store.ErrNotFound)
	}
	return err
}

// ReserveEncryptions implements [store.Store]. Concurrent calls share
// commits with each other and with entry writes (group commit, group.go).
func (s *Store) ReserveEncryptions(ctx context.Context, dbID string, version uint32, n uint64) (uint64, error) {
	if n > math.MaxInt64 {
		return 0, errors.New("sqlite: reserve encryptions: count out of range")
	}
	var total int64
	err := s.runOp(ctx, func(ctx context.Context, q execer) error {
		err := q.QueryRowContext(ctx, `UPDATE data_keys SET encryptions = encryptions + ?1
			WHERE database_id = ?2 AND version = ?3 AND encryptions <= 9223372036854775807 - ?1
			RETURNING encryptions`, int64(n), dbID, version).Scan(&total)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var exists bool
		err = q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM data_keys WHERE database_id = ? AND version = ?)",
			dbID, version).Scan(&exists)
		if err == nil && exists {
			err = errors.New("encryption count overflows")
		} else if err == nil {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: reserve encryptions: %w", err)
	}
	return uint64(total), nil
}

// KeyUsage implements [store.Store]: one row per version that has a data
// key or is used by a row, in version order. Entry counts come from the
// table entry_key_usage that triggers keep (migration 0006), so this costs
// the same for a thousand entries as for a million.
func (s *Store) KeyUsage(ctx context.Context, dbID string) ([]store.KeyUsage, error) {
	scan := func(sc scanner) (store.KeyUsage, error) {
		var u store.KeyUsage
		err := sc.Scan(&u.Version, &u.Entries, &u.Attachments)
		return u, err
	}
	out, err := queryAll(ctx, s.read, scan, `SELECT v, sum(e), sum(a) FROM (
			SELECT version AS v, 0 AS e, 0 AS a FROM data_keys WHERE database_id = ?1
			UNION ALL
			SELECT key_version, entries, 0 FROM entry_key_usage WHERE database_id = ?1 AND entries > 0
			UNION ALL
			SELECT a.key_version, 0, count(*) FROM attachments a JOIN entries e ON e.id = a.entry_id
				WHERE e.database_id = ?1 GROUP BY a.key_version
		) GROUP BY v ORDER BY v`, dbID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key usage: %w", err)
	}
	return out, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
