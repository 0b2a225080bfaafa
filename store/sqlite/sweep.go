package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The sweep removes what crashes and abandoned uploads leave in the
// attachments directory:
//
//   - <id>.part files that have gone abandonAfter without a write (by their
//     modification time, so an upload that another process is still writing
//     is left alone);
//   - final-named files that no row refers to (a crash between the rename
//     and the row's commit, or between a deletion's commit and the unlink).
//
// It reads the directory listing, in batches, and looks the ids up by
// primary key; it never scans the entries table. A final-named file is
// removed only while SQLite's write lock is held and after checking again
// that no row refers to it, since a writer renames its file under that
// lock and commits the row before releasing it.
//
// Names that the store never makes are left alone.

// abandonAfter is how long a pending upload may go without a write before
// a sweep (of any process) removes it. Uploads slower than one chunk per
// abandonAfter are cut off: their Commit fails.
const abandonAfter = 15 * time.Minute

// sweepEvery is how often BeginAttachment sweeps, besides Open.
const sweepEvery = 5 * time.Minute

// sweepBatch is how many names are read, and looked up, at a time.
const sweepBatch = 256

// sweep removes abandoned uploads last written before stale and orphaned
// files. Failing to remove one file is not an error (the next sweep tries
// again); failing to read the directory or the database is.
func (s *Store) sweep(ctx context.Context, stale time.Time) error {
	d, err := os.Open(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(sweepBatch)
		if len(names) > 0 {
			if serr := s.sweepNames(ctx, names, stale); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// sweepNames handles one batch of directory entries.
func (s *Store) sweepNames(ctx context.Context, names []string, stale time.Time) error {
	var ids []string
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, partSuffix); ok {
			if _, ok := idOfName(base); ok {
				s.removeIfStale(filepath.Join(s.dir, name), stale)
			}
			continue
		}
		if id, ok := idOfName(name); ok {
			ids = append(ids, id)
		}
	}
	orphans, err := s.unknownIDs(ctx, s.read, ids)
	if err != nil || len(orphans) == 0 {
		return err
	}
	return s.removeOrphans(ctx, orphans)
}

// removeIfStale removes a regular file last modified before stale.
func (s *Store) removeIfStale(path string, stale time.Time) {
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(stale) {
		_ = os.Remove(path)
	}
}

// removeOrphans removes the files of the ids that no row refers to,
// checking under SQLite's write lock.
func (s *Store) removeOrphans(ctx context.Context, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		orphans, err := s.unknownIDs(ctx, tx, ids)
		if err != nil {
			return err
		}
		s.removeFiles(orphans)
		return nil
	})
}

// unknownIDs returns the ids that no attachments row has.
func (s *Store) unknownIDs(ctx context.Context, q querier, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	query := "SELECT id FROM attachments WHERE id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	known := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		known[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !known[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// maybeSweep sweeps if the last sweep of this Store is sweepEvery old. At
// most one runs at a time; errors are left to the next one.
func (s *Store) maybeSweep(ctx context.Context, now time.Time) {
	last := s.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !s.sweepMu.TryLock() {
		return
	}
	defer s.sweepMu.Unlock()
	if s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		_ = s.sweep(ctx, now.Add(-abandonAfter))
	}
}
