// Package sqlite is the embedded, single-file [store.Store] backend, built on
// the pure-Go modernc.org/sqlite driver.
//
// # Connections
//
// A Store holds two connection pools on the same file: a writer limited to
// one connection, whose transactions start with BEGIN IMMEDIATE, and a
// read-only pool. Writers within a process therefore queue in database/sql
// instead of failing with SQLITE_BUSY, no transaction ever has to upgrade a
// read lock to a write lock (the classic SQLite deadlock), and readers never
// wait for the writer thanks to the write-ahead log. Other processes on the
// same file are waited for up to the busy timeout.
//
// Every connection gets its settings from the DSN, so a connection the pool
// reopens has them too: busy_timeout 5 s, foreign_keys on, and for the writer
// journal_mode WAL and synchronous FULL. FULL makes each commit durable
// across power loss (one fsync of the log per transaction): an operator who
// removes a slot or rotates the root key and then destroys the old credential
// must not find the change undone after a crash.
//
// # Attachments
//
// Attachment metadata (entry, name, sizes, key version, stream header, chunk
// count and chunk stride) is a row in the database; the chunk ciphertext is
// not: each committed attachment is one file in the directory
// attachments/ beside the database file, named after its id, with chunk i
// at offset i*stride. Chunk reads are positioned reads of that file. An
// upload appends to <id>.part and Commit syncs it, renames it to its final
// name, syncs the directory and only then commits the row; deletions
// remove rows first and unlink files after the commit. A crash therefore
// leaves at worst a file without a row, which Open and later sweeps remove
// (sweep.go), and never a row without its file. See files.go and writer.go.
//
// A backup must hold keyward.db, its -wal file and attachments/ as of one
// moment: copy them while no keyward process runs, or from an atomic
// file-system snapshot (LVM, ZFS, btrfs), which reopens like a crash (at
// worst orphan files, swept at Open). Copying the live files one by one is
// not consistent: an attachment deleted or replaced during the copy can
// leave a row whose file was not copied, which reads report as damaged.
//
// Small writes from concurrent callers (PutEntry, DeleteEntry,
// ReserveEncryptions) share transactions: group commit, one fsync for a
// batch of them, each in its own savepoint, without weakening durability
// (see group.go).
//
// # Files
//
// Open creates the file with mode 0600 (and its directory and the
// attachments directory with 0700); SQLite gives the -wal and -shm files the
// same mode, and attachment files are created 0600. Times are stored as
// UTC unix nanoseconds and read back in UTC.
//
// # Schema
//
// The schema is a series of numbered migrations embedded in the binary
// (migrations/NNNN_name.sql), applied in order at Open, each in its own
// transaction, and recorded in the schema_migrations table. A file whose
// schema is newer than [SchemaVersion] is refused with
// [store.ErrSchemaTooNew] before anything is written.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/keyward/keyward/store"
)

var _ store.Store = (*Store)(nil)

// Store is a [store.Store] kept in one SQLite file. Its methods are safe for
// concurrent use.
type Store struct {
	path  string
	write *sql.DB // one connection, BEGIN IMMEDIATE
	read  *sql.DB // query_only connections

	dir string // the attachments directory (AttachmentsDir)

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // prepared reads by query (readStmt)
	cache  *entryCache          // recently read entry rows (rowcache.go)

	sweepMu   sync.Mutex   // held by a sweep that BeginAttachment runs
	lastSweep atomic.Int64 // unix nanoseconds of the last sweep's start

	group   group // batches PutEntry, DeleteEntry, ReserveEncryptions (group.go)
	grouped bool  // group commit on (always, outside tests and benchmarks)

	closeOnce sync.Once
	closeErr  error
}

const busyTimeout = 5 * time.Second

// Connection settings, applied by the driver to every new connection.
var (
	writerParams = []string{
		"_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=foreign_keys(1)",
		// 64 MiB of page cache (default 2 MiB): a regeneration batch of
		// 5000 rows in id order touches rows all over the table (ids are
		// random); with the default cache its dirty pages spilled to the log
		// mid-transaction (BenchmarkRegenerateOffline: 16,500 entries/s
		// before, 27,100 after).
		"_pragma=cache_size(-65536)",
		"_txlock=immediate",
	}
	readerParams = []string{
		"_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=query_only(1)",
	}
	// probeParams set nothing that could write to the file.
	probeParams = []string{
		"_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")",
	}
)

// Open opens the store in the SQLite file at path, creating the file (mode
// 0600) and its directory (mode 0700) if they are missing, and brings the
// schema up to [SchemaVersion]. It then sweeps the attachments directory:
// uploads abandoned by an earlier process (one that crashed, or never
// committed nor aborted) are removed once they have gone without a write for
// abandonAfter, and files no row refers to are removed; uploads that other
// processes are running on the same directory are left alone. Until removed,
// leftovers are invisible and only take space.
//
// A file written by a newer keyward yields an error wrapping
// [store.ErrSchemaTooNew], and the file is left as it was.
func Open(ctx context.Context, path string) (*Store, error) {
	start := time.Now()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := probe(ctx, abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s := &Store{path: abs, dir: filepath.Join(filepath.Dir(abs), AttachmentsDir), grouped: groupCommitDefault.Load()}
	if s.write, err = openDB(abs, writerParams, 1); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if err := s.setUp(ctx, start); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	readers := min(max(runtime.GOMAXPROCS(0), 2), 8)
	if s.read, err = openDB(abs, readerParams, readers); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.cache = openEntryCache(abs)
	s.lastSweep.Store(start.UnixNano())
	if err := s.sweep(ctx, start.Add(-abandonAfter)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: sweep the attachments directory: %w", abs, err)
	}
	return s, nil
}

// setUp checks the journal mode, migrates and creates the attachments
// directory.
func (s *Store) setUp(ctx context.Context, start time.Time) error {
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL; keep the file on a local file system", mode)
	}
	if err := migrate(ctx, s.write, s.dir); err != nil {
		return err
	}
	if err := createDir(s.dir); err != nil {
		return fmt.Errorf("attachments directory: %w", err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close checkpoints the write-ahead log into the main file and closes both
// connection pools. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.cache != nil {
			s.cache.close()
		}
		s.stmtMu.Lock()
		for _, st := range s.stmts {
			st.Close()
		}
		s.stmts = nil
		s.stmtMu.Unlock()
		errRead := s.read.Close()
		// Best effort: another process may hold the log open.
		_, _ = s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errWrite := s.write.Close()
		if err := errors.Join(errRead, errWrite); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// createFile makes the directory (0700) and an empty file (0600) if missing.
// Existing ones are left as they are.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds a file: URI, so that any character in path (even '?') is safe.
func dsn(path string, params []string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x → /C:/x
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: strings.Join(params, "&")}
	return u.String()
}

func openDB(path string, params []string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, params))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// layoutQuery reads where a committed attachment's chunks are in its file.
const layoutQuery = "SELECT chunks, stride, stored FROM attachments WHERE id = ?"

// readStmt returns query prepared on the read pool, preparing it on first
// use. The hot reads (an entry, a database, an attachment's layout) use it:
// parsing the SQL costs about as much as running such a query.
// database/sql prepares the statement again on each pooled connection as
// needed.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st, nil
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// queryRow runs a prepared read that returns one row, by key. Such a read
// never waits for a lock (readers do not block in WAL mode) and takes tens
// of microseconds, so it runs without ctx's cancellation: with it,
// database/sql starts a goroutine per query to watch ctx.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		// Unprepared, so that the error comes out of Scan as usual.
		return s.read.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it if fn
// returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
