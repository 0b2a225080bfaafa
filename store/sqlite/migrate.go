package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/store"
)

// SchemaVersion is the newest schema this build knows: the number of the
// last file in migrations/.
const SchemaVersion = 8

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their numbers must
// run 1, 2, … SchemaVersion without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d (no gaps or duplicates)", m.name, i+1)
		}
	}
	if len(ms) != SchemaVersion {
		return nil, fmt.Errorf("%d migrations embedded, SchemaVersion is %d", len(ms), SchemaVersion)
	}
	return ms, nil
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// schemaVersion reads the schema version of the file (0 if none).
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	err = q.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v)
	return int(v.Int64), err
}

// probe refuses, without writing anything, a file whose schema is too new
// or which holds tables that are not keyward's.
func probe(ctx context.Context, path string) error {
	db, err := openDB(path, probeParams, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return tooNew(v)
	}
	if v == 0 {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the file holds a database that keyward did not create; choose another path")
		}
	}
	return nil
}

func tooNew(v int) error {
	return fmt.Errorf("schema version %d, this build knows up to %d: %w", v, SchemaVersion, store.ErrSchemaTooNew)
}

// migrate applies the missing migrations, each in its own write
// transaction, with its Go step if it has one (dir is the attachments
// directory). The version is read again inside each transaction, so two
// processes opening the same file at once do not apply a migration twice.
func migrate(ctx context.Context, db *sql.DB, dir string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := apply(ctx, db, m, dir); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// goSteps run in a migration's transaction, before its SQL.
var goSteps = map[int]func(ctx context.Context, tx *sql.Tx, dir string) error{
	3: moveChunksToFiles,
}

func apply(ctx context.Context, db *sql.DB, m migration, dir string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	const bootstrap = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied INTEGER NOT NULL
	) STRICT`
	if _, err := tx.ExecContext(ctx, bootstrap); err != nil {
		return err
	}
	v, err := schemaVersion(ctx, tx)
	switch {
	case err != nil:
		return err
	case v > SchemaVersion:
		return tooNew(v)
	case v >= m.version:
		return nil // applied already
	case v != m.version-1:
		return fmt.Errorf("schema version %d cannot be followed by %d", v, m.version)
	}
	if step := goSteps[m.version]; step != nil {
		if err := step(ctx, tx, dir); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
		m.version, nanos(time.Now()))
	if err != nil {
		return err
	}
	return tx.Commit()
}
