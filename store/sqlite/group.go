package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Group commit of small writes.
//
// With synchronous=FULL every commit costs an fsync of the log (about half a
// millisecond here), and with one writer connection commits happen one after
// the other: one transaction per PutEntry would cap a process at about 2,000
// writes per second, however many goroutines write. PutEntry, DeleteEntry
// and ReserveEncryptions therefore go through a group:
//
//   - a caller queues its operation; if no batch is being written, it becomes
//     the leader and writes one batch itself;
//   - the leader takes what is queued at that moment (at most maxBatch
//     operations, its own first) and runs them in one transaction (BEGIN
//     IMMEDIATE), each inside its own SAVEPOINT: an operation that fails
//     (ErrConflict, ErrNotFound, a constraint) is rolled back to its
//     savepoint and its error goes to its caller alone;
//   - the transaction commits once (one fsync), and only then does every
//     caller of the batch get its result: a caller told "done" has its
//     write on disk, as before;
//   - if operations queued up meanwhile, the leader hands the lead to the
//     oldest of their callers and returns; otherwise the group goes idle.
//
// Nobody waits for a timer: a lone caller finds the group idle, leads a batch
// of one (run without a savepoint, exactly as a plain transaction) and pays
// nothing more than before. Under concurrency, the callers that arrive while
// a batch commits share the next commit.
//
// Contexts: a caller whose context ends while its operation is still queued
// removes it and gets the context's error; nothing of it was written. Once
// the operation has been taken into a batch its result stands: it runs to
// the end of the batch whatever its context says (it must: interrupting a
// statement makes SQLite roll back the whole transaction, the other callers'
// operations with it), and its caller waits for that result.
//
// If the transaction cannot be finished (COMMIT fails, or a failed
// operation leaves it unusable), it is rolled back and every caller of the
// batch gets the error: nothing of the batch was written.
const maxBatch = 256

// groupCommitDefault says whether stores opened from now on batch their
// small writes. Only tests and benchmarks turn it off, to compare with the
// transaction-per-write path.
var groupCommitDefault atomic.Bool

func init() { groupCommitDefault.Store(true) }

// Batches and operations of all stores of the process, for benchmarks that
// reach a Store only through the keyward package.
var allBatches, allOps atomic.Int64

// execer is what an operation may use: a *sql.Tx or a *sql.Conn inside a
// transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	querier
}

// opFunc is one small write. It runs inside a transaction and must neither
// commit nor roll it back. Its error goes to its caller; it must not keep
// the context it is given (the batch's, never cancelled).
type opFunc func(ctx context.Context, q execer) error

// groupOp is a queued operation and its caller's mailbox.
type groupOp struct {
	ctx      context.Context
	fn       opFunc
	err      error     // set before false is sent on wake
	wake     chan bool // true: lead the next batch; false: done, see err
	promoted bool      // chosen to lead; no longer removable (under group.mu)
}

// group batches the small writes of one Store. Its zero value is ready.
type group struct {
	mu    sync.Mutex
	queue []*groupOp
	busy  bool // a leader is writing a batch; false implies an empty queue

	// Counters, for tests and benchmarks.
	batches atomic.Int64 // transactions that reached COMMIT (successful or not)
	ops     atomic.Int64 // operations run in them

	// beforeCommit, when set (by tests only), runs on the batch's connection
	// just before COMMIT; an error from it fails the batch.
	beforeCommit func(ctx context.Context, q execer) error
}

// runOp runs fn in a write transaction: through the group when group commit
// is on, else in a transaction of its own. It returns fn's error, or the
// error that kept the transaction from committing.
func (s *Store) runOp(ctx context.Context, fn opFunc) error {
	if !s.grouped {
		return s.tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
	}
	return s.group.do(ctx, s.write, fn)
}

// do queues fn and waits for its result, leading batches when asked to.
func (g *group) do(ctx context.Context, db *sql.DB, fn opFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &groupOp{ctx: ctx, fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	for {
		if lead {
			g.lead(db)
		}
		select {
		case lead = <-op.wake:
		case <-ctx.Done():
			if g.withdraw(op) {
				return ctx.Err()
			}
			lead = <-op.wake // taken or promoted: its result stands
		}
		if !lead {
			return op.err
		}
	}
}

// withdraw removes op from the queue unless it was taken or promoted.
func (g *group) withdraw(op *groupOp) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if op.promoted {
		return false
	}
	for i, q := range g.queue {
		if q == op {
			g.queue = slices.Delete(g.queue, i, i+1)
			return true
		}
	}
	return false
}

// lead takes a batch from the queue, writes it, tells its callers, and
// hands the lead on.
func (g *group) lead(db *sql.DB) {
	g.mu.Lock()
	n := min(len(g.queue), maxBatch)
	batch := make([]*groupOp, 0, n)
	for _, op := range g.queue[:n] {
		if err := op.ctx.Err(); err != nil {
			op.finish(err) // its caller left before it was taken
			continue
		}
		batch = append(batch, op)
	}
	g.queue = slices.Delete(g.queue, 0, n) // clears the tail: no op stays reachable
	g.mu.Unlock()

	if len(batch) > 0 {
		g.run(db, batch)
	}

	g.mu.Lock()
	handed := len(g.queue) > 0
	if len(g.queue) == 0 {
		g.busy = false
	} else {
		next := g.queue[0]
		next.promoted = true
		next.wake <- true
	}
	g.mu.Unlock()
	if handed {
		// Let the next leader run now on this P (it is runnext), rather
		// than after this goroutine's next Put has used up its time slice:
		// with every P busy, that gap between batches was a fifth of the
		// wall time at 64 writers.
		runtime.Gosched()
	}
}

// finish hands op its result.
func (op *groupOp) finish(err error) {
	op.err = err
	op.wake <- false
}

// run writes one batch and finishes every operation in it.
func (g *group) run(db *sql.DB, batch []*groupOp) {
	errs := make([]error, len(batch))
	err := g.transact(db, batch, errs)
	for i, op := range batch {
		if err != nil {
			op.finish(err)
		} else {
			op.finish(errs[i])
		}
	}
}

// transact runs the batch in one transaction and commits it, filling errs
// with each operation's own error. A non-nil result means the transaction
// was rolled back: it is every operation's result.
func (g *group) transact(db *sql.DB, batch []*groupOp, errs []error) (err error) {
	// The batch serves several callers: no single caller's context may
	// interrupt it.
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			rollback(ctx, conn)
		}
	}()
	bc := &batchConn{conn: conn}
	if len(batch) == 1 {
		// No savepoint needed: the transaction is the operation's own.
		errs[0] = batch[0].fn(ctx, conn)
	} else {
		for i, op := range batch {
			if errs[i], err = bc.savepoint(ctx, op.fn); err != nil {
				break
			}
		}
	}
	if closeErr := bc.close(); err == nil {
		err = closeErr
	}
	if len(batch) == 1 && errs[0] != nil {
		return errs[0]
	}
	if err != nil {
		return err
	}
	g.batches.Add(1)
	g.ops.Add(int64(len(batch)))
	allBatches.Add(1)
	allOps.Add(int64(len(batch)))
	if g.beforeCommit != nil {
		if err := g.beforeCommit(ctx, conn); err != nil {
			return fmt.Errorf("group commit: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("group commit: %w", err)
	}
	return nil
}
