package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
)

// Checkpoints during bulk uploads.
//
// In WAL mode every page is written twice: into the log at commit, and from
// the log into the database file at a checkpoint. SQLite's automatic
// checkpoint (every autoCheckpointPages pages of log) runs inline in the
// commit that crosses the threshold, so an upload used to stop every few
// batches to copy them. During an upload, batches of chunks are therefore
// committed with the automatic checkpoint off (bulkTx), and:
//
//   - after each batch, a checkpointer goroutine runs a PASSIVE checkpoint on
//     a connection of its own, copying the batch while the writer goes on
//     with the next one (PASSIVE never waits for, nor blocks, the writer or
//     readers);
//   - after every restartBatches batches, the writer waits for that
//     goroutine and checkpoints what is left itself, as the automatic
//     checkpoint would have done, so that the next commit restarts the log
//     from its beginning. The log thus stays as small as before (about
//     4 MiB, not the size of the upload).
//
// The checkpointer's connection has synchronous=FULL, like the writer's: a
// checkpoint syncs the log before, and the database file after, copying. A
// crash in the middle of a checkpoint is harmless in SQLite (the log stays
// authoritative until the copy is synced).
const (
	autoCheckpointPages = 1000 // SQLite's default, set explicitly on the writer
	// restartBatches batches of 1 MiB are about autoCheckpointPages pages of
	// 4 KiB: the log grows no more than with the automatic checkpoint.
	restartBatches = 4
)

// bulkTx is tx for a batch of an upload: its commit does not checkpoint
// (the checkpointer does). The writer's automatic checkpoint is turned off
// for this transaction only; if it cannot be turned on again, the
// connection is discarded rather than left without it.
func (s *Store) bulkTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		return err
	}
	defer func() {
		restore := fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", autoCheckpointPages)
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), restore); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes it
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// afterBatch is called by an upload after each batch it committed with
// bulkTx; n counts them (from 1).
func (s *Store) afterBatch(ctx context.Context, n int) {
	if n%restartBatches != 0 {
		s.ckpt.request()
		return
	}
	release := s.ckpt.pause()
	defer release()
	// Errors are left to the next commits' automatic checkpoint.
	_, _ = s.write.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
}

// checkpointer runs PASSIVE checkpoints in a goroutine, on request.
type checkpointer struct {
	path string
	run  sync.Mutex // held while a checkpoint runs, by the goroutine or by pause's caller

	mu      sync.Mutex
	db      *sql.DB            // one connection, opened on first request
	kick    chan struct{}      // capacity 1: a pending request
	cancel  context.CancelFunc // stops the goroutine
	done    chan struct{}      // closed when the goroutine has ended
	runs    int                // checkpoints the goroutine ran, for tests
	stopped bool
}

var checkpointParams = []string{
	"_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")",
	"_pragma=synchronous(FULL)",
}

// request asks for a checkpoint soon and returns at once. Requests made while
// one is pending are merged.
func (c *checkpointer) request() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if c.db == nil {
		db, err := openDB(c.path, checkpointParams, 1)
		if err != nil {
			return // the writer's own checkpoints still run
		}
		var ctx context.Context
		ctx, c.cancel = context.WithCancel(context.Background())
		c.db, c.kick, c.done = db, make(chan struct{}, 1), make(chan struct{})
		go c.loop(ctx, db, c.kick, c.done)
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// pause drops a pending request and waits for a checkpoint under way; none
// starts until release is called.
func (c *checkpointer) pause() (release func()) {
	c.run.Lock()
	c.mu.Lock()
	if c.kick != nil {
		select {
		case <-c.kick:
		default:
		}
	}
	c.mu.Unlock()
	return c.run.Unlock
}

func (c *checkpointer) loop(ctx context.Context, db *sql.DB, kick, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		c.run.Lock()
		// Best effort: an error (SQLITE_BUSY, a closing store) leaves the
		// work to the writer.
		var busy, log, copied int64
		_ = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
		c.run.Unlock()
		c.mu.Lock()
		c.runs++
		c.mu.Unlock()
	}
}

// close stops the goroutine, interrupting a checkpoint under way (SQLite
// leaves the files consistent), and closes its connection. Later requests
// do nothing.
func (c *checkpointer) close() error {
	c.mu.Lock()
	c.stopped = true
	db, cancel, done := c.db, c.cancel, c.done
	c.db = nil
	c.mu.Unlock()
	if db == nil {
		return nil
	}
	cancel()
	<-done
	return db.Close()
}
