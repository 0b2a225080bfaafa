package keyward

import (
	"context"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/store"
)

// writeBackup writes an export of every data key version of dbs to w (the
// bundle format, encrypted to recipients). The raw keys are wiped when it
// returns. It is the regeneration's own backup; `keys export` writes the
// same format.
func (kw *Keyward) writeBackup(ctx context.Context, w io.Writer, recipients []age.Recipient, dbs []store.Database) error {
	if len(recipients) == 0 {
		return invalid("backup: no recipient: give a passphrase or an age public key")
	}
	b := &bundle.Bundle{DeploymentID: kw.DeploymentID(), Created: time.Now().UTC()}
	defer b.Wipe()
	for _, db := range dbs {
		keys, err := kw.st.DataKeys(ctx, db.ID)
		if err != nil {
			return err
		}
		bdb := bundle.Database{Name: db.Name, ID: db.ID}
		for _, k := range keys {
			key, err := kw.kr.KeyCopy(ctx, db.ID, k.Version)
			if err != nil {
				return fmt.Errorf("database %q key version %d: %w", db.Name, k.Version, err)
			}
			bdb.Keys = append(bdb.Keys, bundle.Key{Version: k.Version, State: k.State.String(), Created: k.Created, Key: key})
		}
		b.Databases = append(b.Databases, bdb)
	}
	return bundle.Write(w, b, recipients, false)
}
