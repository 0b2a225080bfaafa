package keyward

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/store"
)

// ExportOptions says what ExportKeys exports and to whom.
type ExportOptions struct {
	// Databases names the databases to export; empty: every database.
	Databases []string
	// Recipients encrypt the export: one passphrase
	// (age.NewScryptRecipient) or any number of age public keys
	// (age.ParseX25519Recipient). At least one.
	Recipients []age.Recipient
	// Armor writes the export ASCII-armored (PEM-like text).
	Armor bool
}

// ExportSummary says what an export holds; never a key.
type ExportSummary struct {
	DeploymentID string
	Created      time.Time
	Databases    []ExportedDatabase
}

// ExportedDatabase lists the key versions exported of one database.
type ExportedDatabase struct {
	Name     string
	ID       string
	Versions []uint32
}

// Keys returns how many key versions the export holds.
func (s ExportSummary) Keys() int {
	n := 0
	for _, db := range s.Databases {
		n += len(db.Versions)
	}
	return n
}

// ExportKeys writes an export of every data key version (primary, active
// and retired) of the chosen databases to w: an age file holding the keys,
// their check values and the deployment id (docs/formats.md), encrypted to
// opts.Recipients. Anyone who opens it can decrypt every record these keys
// protect: keep it as carefully as the recovery key. ErrNotFound for an
// unknown database, ErrSealed while sealed; an error if a stored key does
// not unwrap (the export would be incomplete). Nothing is written to w
// before every key is unwrapped.
func (kw *Keyward) ExportKeys(ctx context.Context, w io.Writer, opts ExportOptions) (ExportSummary, error) {
	sum, err := kw.exportKeys(ctx, w, opts)
	return sum, kw.Audit(ctx, "keys.export", dbTarget(opts.Databases), err)
}

// dbTarget names the databases an operation covers, for the audit log.
func dbTarget(names []string) string {
	if len(names) == 0 {
		return "all databases"
	}
	return "databases " + strings.Join(names, ",")
}

func (kw *Keyward) exportKeys(ctx context.Context, w io.Writer, opts ExportOptions) (ExportSummary, error) {
	if len(opts.Recipients) == 0 {
		return ExportSummary{}, invalid("export keys: no recipient: give a passphrase or an age public key")
	}
	if kw.Sealed() {
		return ExportSummary{}, fmt.Errorf("keyward: export keys: %w", ErrSealed)
	}
	dbs, err := kw.exportDatabases(ctx, opts.Databases)
	if err != nil {
		return ExportSummary{}, err
	}
	b := &bundle.Bundle{DeploymentID: kw.DeploymentID(), Created: time.Now().UTC()}
	defer b.Wipe()
	sum := ExportSummary{DeploymentID: b.DeploymentID, Created: b.Created}
	for _, db := range dbs {
		keys, err := kw.st.DataKeys(ctx, db.ID)
		if err != nil {
			return ExportSummary{}, err
		}
		b.Databases = append(b.Databases, bundle.Database{Name: db.Name, ID: db.ID})
		bdb := &b.Databases[len(b.Databases)-1]
		ed := ExportedDatabase{Name: db.Name, ID: db.ID}
		for _, dk := range keys {
			key, err := kw.kr.UnwrapDataKey(dk)
			if err != nil {
				return ExportSummary{}, fmt.Errorf("keyward: export keys of database %q: %w; nothing was exported", db.Name, err)
			}
			bdb.Keys = append(bdb.Keys, bundle.Key{Version: dk.Version, State: dk.State.String(), Created: dk.Created, Key: key})
			ed.Versions = append(ed.Versions, dk.Version)
		}
		sum.Databases = append(sum.Databases, ed)
	}
	if err := bundle.Write(w, b, opts.Recipients, opts.Armor); err != nil {
		return ExportSummary{}, err
	}
	return sum, nil
}

// exportDatabases resolves names (each once, in the order given), or
// returns every database when there are none.
func (kw *Keyward) exportDatabases(ctx context.Context, names []string) ([]store.Database, error) {
	if len(names) == 0 {
		return kw.st.Databases(ctx)
	}
	var out []store.Database
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue
		}
		d, err := kw.Database(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, d.db)
	}
	return out, nil
}
