package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward/store"
)

// checkRoot enforces the root key check (package store, "Root key check")
// inside a write transaction: check must be the recorded root check value.
// While none is recorded, a non-empty check becomes it.
func checkRoot(ctx context.Context, tx *sql.Tx, check []byte) error {
	var recorded []byte
	err := tx.QueryRowContext(ctx, "SELECT root_check FROM meta WHERE id = 1").Scan(&recorded)
	if errors.Is(err, sql.ErrNoRows) {
		if len(check) == 0 {
			return nil // not initialised: nothing to guard (store-level tests)
		}
		return store.ErrNotInitialized
	}
	if err != nil {
		return err
	}
	switch {
	case len(recorded) == 0 && len(check) == 0:
		return nil
	case len(recorded) == 0:
		return setRoot(ctx, tx, check)
	case len(check) == 0:
		return errors.New("a wrapped key without the check value of its root key (this store records one)")
	case !bytes.Equal(recorded, check):
		return store.ErrRootChanged
	}
	return nil
}

// moveRoot records newRoot as the root check value, as a root key
// rotation or re-key does; without one (a caller that tracks no root key)
// it passes only where none is recorded.
func moveRoot(ctx context.Context, tx *sql.Tx, newRoot []byte) error {
	if len(newRoot) == 0 {
		return checkRoot(ctx, tx, nil)
	}
	return setRoot(ctx, tx, newRoot)
}

// setRoot records a new root check value.
func setRoot(ctx context.Context, tx *sql.Tx, check []byte) error {
	if len(check) == 0 {
		return errors.New("an empty root check value")
	}
	res, err := tx.ExecContext(ctx, "UPDATE meta SET root_check = ? WHERE id = 1", check)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("recording the root check value: %w", store.ErrNotInitialized)
	}
	return nil
}
