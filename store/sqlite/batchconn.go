package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// batchConn is the execer of a batch of several operations: its
// connection, with each statement prepared once for the whole batch (the
// operations of a batch mostly run the same few statements, and parsing one
// costs about as much as running it).
type batchConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

var _ execer = (*batchConn)(nil)

// stmt returns query prepared on the batch's connection.
func (b *batchConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := b.stmts[query]; st != nil {
		return st, nil
	}
	st, err := b.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if b.stmts == nil {
		b.stmts = map[string]*sql.Stmt{}
	}
	b.stmts[query] = st
	return st, nil
}

// ExecContext implements execer.
func (b *batchConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := b.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowContext implements execer. A query that does not prepare runs
// unprepared, so that its error comes out of Scan as usual.
func (b *batchConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := b.stmt(ctx, query)
	if err != nil {
		return b.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext implements execer.
func (b *batchConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := b.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// close closes the prepared statements; it runs before COMMIT or ROLLBACK.
func (b *batchConn) close() error {
	var errs []error
	for _, st := range b.stmts {
		errs = append(errs, st.Close())
	}
	b.stmts = nil
	return errors.Join(errs...)
}

// savepoint runs fn inside a savepoint: if fn fails, what it did is undone
// and its error returned as opErr. A non-nil err means the transaction can
// no longer be used.
func (b *batchConn) savepoint(ctx context.Context, fn opFunc) (opErr, err error) {
	if _, err := b.ExecContext(ctx, "SAVEPOINT op"); err != nil {
		return nil, err
	}
	if opErr = fn(ctx, b); opErr != nil {
		// Some errors (I/O, out of memory) make SQLite roll back the whole
		// transaction; then the savepoint is gone and so is the batch.
		if _, err := b.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
			return opErr, fmt.Errorf("group commit: transaction lost after a failed operation: %w", errors.Join(opErr, err))
		}
	}
	if _, err := b.ExecContext(ctx, "RELEASE op"); err != nil {
		return opErr, err
	}
	return opErr, nil
}

// rollback ends the connection's transaction, or discards the connection
// if ROLLBACK fails: a connection must never go back to the pool inside a
// transaction. (ROLLBACK also fails when SQLite has rolled back already;
// discarding the connection then costs only a reconnect.)
func rollback(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes it
	}
}
