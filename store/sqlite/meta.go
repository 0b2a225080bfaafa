package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// Meta implements [store.Store].
func (s *Store) Meta(ctx context.Context) (store.Meta, error) {
	var (
		m       store.Meta
		created int64
		version sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT deployment_id, created,
		(SELECT max(version) FROM schema_migrations), root_check FROM meta WHERE id = 1`,
	).Scan(&m.DeploymentID, &created, &version, &m.RootCheck)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Meta{}, fmt.Errorf("sqlite: meta: %w", store.ErrNotInitialized)
	}
	if err != nil {
		return store.Meta{}, fmt.Errorf("sqlite: meta: %w", err)
	}
	m.Created = fromNanos(created)
	m.SchemaVersion = int(version.Int64)
	if len(m.RootCheck) == 0 {
		m.RootCheck = nil
	}
	return m, nil
}

// Init implements [store.Store]. A zero m.Created means now.
func (s *Store) Init(ctx context.Context, m store.Meta, slots []store.Slot) error {
	if m.DeploymentID == "" {
		return errors.New("sqlite: init: empty deployment id")
	}
	now := time.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := creationTime(m.Created, now)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO meta (id, deployment_id, created, root_check) VALUES (1, ?, ?, ?)",
			m.DeploymentID, nanos(c), nonNil(m.RootCheck))
		if isDuplicate(err) {
			return store.ErrAlreadyInitialized
		}
		if err != nil {
			return err
		}
		return insertSlots(ctx, tx, slots, now)
	})
	if err != nil {
		return fmt.Errorf("sqlite: init: %w", err)
	}
	return nil
}

// Slots implements [store.Store].
func (s *Store) Slots(ctx context.Context) ([]store.Slot, error) {
	scan := func(sc scanner) (store.Slot, error) {
		var (
			sl      store.Slot
			created int64
		)
		err := sc.Scan(&sl.ID, &sl.Priority, &sl.Spec, &sl.Blob, &created)
		sl.Created = fromNanos(created)
		return sl, err
	}
	out, err := queryAll(ctx, s.read, scan, "SELECT id, priority, spec, blob, created FROM slots ORDER BY priority, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: slots: %w", err)
	}
	return out, nil
}

// AddSlot implements [store.Store]. s.ID is ignored; a zero s.Created means
// now.
func (s *Store) AddSlot(ctx context.Context, sl store.Slot) (store.Slot, error) {
	var out store.Slot
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkRoot(ctx, tx, sl.Root); err != nil {
			return err
		}
		var err error
		out, err = insertSlot(ctx, tx, sl, time.Now())
		return err
	})
	if err != nil {
		return store.Slot{}, fmt.Errorf("sqlite: add slot: %w", err)
	}
	return out, nil
}

func insertSlots(ctx context.Context, tx *sql.Tx, slots []store.Slot, now time.Time) error {
	for _, sl := range slots {
		if _, err := insertSlot(ctx, tx, sl, now); err != nil {
			return err
		}
	}
	return nil
}

func insertSlot(ctx context.Context, tx *sql.Tx, sl store.Slot, now time.Time) (store.Slot, error) {
	if sl.Spec == "" {
		return store.Slot{}, errors.New("empty slot spec")
	}
	var err error
	if sl.Created, err = creationTime(sl.Created, now); err != nil {
		return store.Slot{}, err
	}
	err = tx.QueryRowContext(ctx,
		"INSERT INTO slots (priority, spec, blob, created) VALUES (?, ?, ?, ?) RETURNING id",
		sl.Priority, sl.Spec, nonNil(sl.Blob), nanos(sl.Created)).Scan(&sl.ID)
	return sl, err
}

// DeleteSlot implements [store.Store]. The condition on keep is part of
// the DELETE statement, so it holds at the moment of the delete.
func (s *Store) DeleteSlot(ctx context.Context, id, keep int64) error {
	res, err := s.write.ExecContext(ctx,
		"DELETE FROM slots WHERE id = ?1 AND (?2 = 0 OR EXISTS (SELECT 1 FROM slots WHERE id = ?2 AND id != ?1))", id, keep)
	if err != nil {
		return fmt.Errorf("sqlite: delete slot: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var exists bool
	if err := s.write.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM slots WHERE id = ?)", id).Scan(&exists); err != nil {
		return fmt.Errorf("sqlite: delete slot: %w", err)
	}
	if exists {
		return fmt.Errorf("sqlite: delete slot %d: slot %d, which was to remain, is gone: %w", id, keep, store.ErrConflict)
	}
	return fmt.Errorf("sqlite: delete slot %d: %w", id, store.ErrNotFound)
}
