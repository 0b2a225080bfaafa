package keyward

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// GetDataKey returns a copy of the raw data key of one version of a
// database (version 0: the primary), and that version. The caller must
// Wipe it. Whoever holds it can decrypt every row stored under that
// version. ErrNotFound for an unknown database or version, ErrSealed while
// sealed.
func (kw *Keyward) GetDataKey(ctx context.Context, db string, version uint32) (*secret.Key, uint32, error) {
	key, v, err := kw.getDataKey(ctx, db, version)
	if err := kw.Audit(ctx, "keys.get", fmt.Sprintf("database %s version %d", db, v), err); err != nil {
		if key != nil {
			key.Wipe()
		}
		return nil, 0, err
	}
	return key, v, nil
}

func (kw *Keyward) getDataKey(ctx context.Context, db string, version uint32) (*secret.Key, uint32, error) {
	if kw.Sealed() {
		return nil, 0, fmt.Errorf("keyward: get data key: %w", ErrSealed)
	}
	d, err := kw.Database(ctx, db)
	if err != nil {
		return nil, 0, err
	}
	keys, err := kw.st.DataKeys(ctx, d.db.ID)
	if err != nil {
		return nil, 0, err
	}
	for _, dk := range keys {
		if dk.Version == version || version == 0 && dk.State == store.KeyPrimary {
			key, err := kw.kr.UnwrapDataKey(dk)
			return key, dk.Version, err
		}
	}
	if version == 0 {
		return nil, 0, fmt.Errorf("keyward: database %q has no primary key: %w", db, ErrNotFound)
	}
	return nil, 0, fmt.Errorf("keyward: database %q has no key version %d (see `keyward status`): %w", db, version, ErrNotFound)
}

// ImportedKey says what PutDataKey did with a key (its Action) and, for a
// key that differs from the stored one, what the stored one protects.
type ImportedKey = api.KeyImportKey

// PutDataKey stores a raw data key (crypt.KeySize bytes) as version
// `version` of a database, wrapped under the root key; version 0 means the
// next version after the highest one. It works as ImportKeys of that one
// key in state active: a new version is added active; a version that
// holds the same key is left alone; one that holds another key is
// refused (ErrConflict) unless overwrite, which replaces it, and the rows
// encrypted under the replaced key no longer open. The result says which
// it was. It neither keeps nor wipes key.
func (kw *Keyward) PutDataKey(ctx context.Context, db string, key *secret.Key, version uint32, overwrite bool) (ImportedKey, error) {
	ik, err := kw.putDataKey(ctx, db, key, version, overwrite)
	op := "keys.put"
	if overwrite {
		op = "keys.put.overwrite"
	}
	if ik.Version != 0 {
		version = ik.Version
	}
	return ik, kw.Audit(ctx, op, fmt.Sprintf("database %s version %d", db, version), err)
}

func (kw *Keyward) putDataKey(ctx context.Context, db string, key *secret.Key, version uint32, overwrite bool) (ImportedKey, error) {
	if key == nil || key.Len() != crypt.KeySize {
		return ImportedKey{}, invalid("a data key is %d bytes", crypt.KeySize)
	}
	if kw.Sealed() {
		return ImportedKey{}, fmt.Errorf("keyward: put data key: %w", ErrSealed)
	}
	d, err := kw.Database(ctx, db)
	if err != nil {
		return ImportedKey{}, err
	}
	if version == 0 {
		keys, err := kw.st.DataKeys(ctx, d.db.ID)
		if err != nil {
			return ImportedKey{}, err
		}
		for _, dk := range keys {
			version = max(version, dk.Version)
		}
		version++
		if version == 0 {
			return ImportedKey{}, invalid("database %q has used every key version", db)
		}
	}
	now := time.Now().UTC()
	b := &bundle.Bundle{DeploymentID: kw.DeploymentID(), Created: now, Databases: []bundle.Database{{
		Name: d.db.Name, ID: d.db.ID, Keys: []bundle.Key{{Version: version, State: "active", Created: now, Key: key}},
	}}}
	rep, err := kw.importKeys(ctx, b, ImportOptions{Overwrite: overwrite})
	var out ImportedKey
	if len(rep.Databases) == 1 && len(rep.Databases[0].Keys) == 1 {
		out = rep.Databases[0].Keys[0]
	}
	if out.Action == api.KeyConflict {
		err = conflictf("keyward: version %d of database %q holds another key than the one given (check value %s); "+
			"%d entries and %d attachments use it%s; nothing was changed: give --overwrite only if the given key is the one that opens them",
			version, db, out.CheckValue, out.Entries, out.Attachments, sampleNote(out.SampleOpens))
	}
	return out, err
}

func sampleNote(opens string) string {
	switch opens {
	case api.SampleStored:
		return ", and a sample opens with the stored key"
	case api.SampleExported:
		return ", and a sample opens with the given key"
	case api.SampleNeither:
		return ", and a sample opens with neither key"
	}
	return ""
}
