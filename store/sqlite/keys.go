package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// ImportKeys implements [store.Store].
func (s *Store) ImportKeys(ctx context.Context, imp store.KeyImport) error {
	if err := checkImport(imp); err != nil {
		return fmt.Errorf("sqlite: import keys: %w", err)
	}
	now := time.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkRoot(ctx, tx, imp.Root); err != nil {
			return err
		}
		for _, db := range imp.Create {
			if err := insertDatabase(ctx, tx, db, now); err != nil {
				return fmt.Errorf("database %s: %w", db.Name, err)
			}
		}
		for _, k := range imp.Add {
			if err := insertDataKey(ctx, tx, k, now); err != nil {
				return fmt.Errorf("database %s key version %d: %w", k.DatabaseID, k.Version, err)
			}
		}
		for _, r := range imp.Replace {
			if err := rewrap(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: import keys: %w", err)
	}
	return nil
}

// checkImport refuses an import that would leave a created database
// without exactly one primary key.
func checkImport(imp store.KeyImport) error {
	primaries := map[string]int{}
	for _, k := range imp.Add {
		if k.State == store.KeyPrimary {
			primaries[k.DatabaseID]++
		}
	}
	for _, db := range imp.Create {
		if err := checkName("database name", db.Name); err != nil {
			return err
		}
		if db.ID == "" {
			return errors.New("empty database id")
		}
		if primaries[db.ID] != 1 {
			return fmt.Errorf("database %s: a created database needs exactly one primary key among the added ones, got %d", db.Name, primaries[db.ID])
		}
	}
	return nil
}

// rewrap replaces one version's wrapped key if it is still r.Old.
func rewrap(ctx context.Context, tx *sql.Tx, r store.RewrappedKey) error {
	res, err := tx.ExecContext(ctx, "UPDATE data_keys SET wrapped = ? WHERE database_id = ? AND version = ? AND wrapped = ?",
		nonNil(r.New), r.DatabaseID, r.Version, nonNil(r.Old))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var exists bool
	err = tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM data_keys WHERE database_id = ? AND version = ?)",
		r.DatabaseID, r.Version).Scan(&exists)
	switch {
	case err != nil:
		return err
	case exists:
		return fmt.Errorf("database %s key version %d changed meanwhile: %w", r.DatabaseID, r.Version, store.ErrConflict)
	}
	return fmt.Errorf("database %s key version %d: %w", r.DatabaseID, r.Version, store.ErrNotFound)
}

// ReplaceRootKey implements [store.Store].
func (s *Store) ReplaceRootKey(ctx context.Context, slots []store.Slot, keys []store.RewrappedKey) error {
	if len(slots) == 0 {
		return errors.New("sqlite: replace root key: no slot")
	}
	now := time.Now()
	root := slots[0].Root
	for _, sl := range slots {
		if !bytes.Equal(sl.Root, root) {
			return errors.New("sqlite: replace root key: the slots wrap different root keys")
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := moveRoot(ctx, tx, root); err != nil {
			return err
		}
		if err := coversEveryKey(ctx, tx, keys); err != nil {
			return err
		}
		for _, r := range keys {
			if err := rewrap(ctx, tx, r); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM slots"); err != nil {
			return err
		}
		return insertSlots(ctx, tx, slots, now)
	})
	if err != nil {
		return fmt.Errorf("sqlite: replace root key: %w", err)
	}
	return nil
}

// coversEveryKey checks that keys names every stored data key version
// once, each with its stored wrapped key as Old.
func coversEveryKey(ctx context.Context, tx *sql.Tx, keys []store.RewrappedKey) error {
	type id struct {
		db      string
		version uint32
	}
	want := make(map[id][]byte, len(keys))
	for _, r := range keys {
		k := id{r.DatabaseID, r.Version}
		if _, dup := want[k]; dup {
			return fmt.Errorf("database %s key version %d named twice", r.DatabaseID, r.Version)
		}
		want[k] = r.Old
	}
	rows, err := tx.QueryContext(ctx, "SELECT database_id, version, wrapped FROM data_keys")
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := 0
	for rows.Next() {
		var (
			k       id
			wrapped []byte
		)
		if err := rows.Scan(&k.db, &k.version, &wrapped); err != nil {
			return err
		}
		stored++
		old, ok := want[k]
		if !ok || !bytes.Equal(old, wrapped) {
			return fmt.Errorf("database %s key version %d is not in the new key set or changed meanwhile: %w", k.db, k.version, store.ErrConflict)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if stored != len(want) {
		return fmt.Errorf("%d data key versions given, %d stored: %w", len(want), stored, store.ErrConflict)
	}
	return nil
}
