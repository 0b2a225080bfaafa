package keyward

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// ErrNotSealed is returned by ImportRekey when a slot still unlocks the
// deployment: it needs no new root key.
var ErrNotSealed = errors.New("keyward: a slot unlocks this deployment")

// RekeyResult is what ImportRekey reports, once.
type RekeyResult struct {
	DeploymentID string
	// RecoveryKey unlocks the data when every other new slot is lost. It
	// is stored nowhere: show it to the user once. The old recovery key no
	// longer opens anything.
	RecoveryKey string
	// Slots are the new slots, which replaced all the old ones.
	Slots []Slot
	// Keys is how many data key versions were wrapped under the new root
	// key.
	Keys int
	// Ignored lists what the export holds but this store does not
	// ("app version 4"); import it afterwards with ImportKeys if needed.
	Ignored []string
}

// ImportRekey brings a deployment back whose slots cannot unlock it any
// more, typically its data directory moved to a new machine without the
// auto key file, using an export of its keys (read with bundle.Read):
//
//  1. No slot may unlock the deployment (ErrNotSealed otherwise: then add
//     a slot for this machine with AddSlot instead).
//  2. The export must come from this deployment (ErrWrongDeployment) and
//     hold every data key version the store holds (an error listing what
//     is missing otherwise). Each exported key must open a sample of the
//     rows stored under its version, if any.
//  3. A new random root key is wrapped for each spec (default "auto") and
//     a new recovery slot; the export's keys are wrapped under it; all the
//     old slots and wrapped keys are replaced in one store transaction.
//  4. The deployment is unlocked with a new slot, and every data key
//     version is unwrapped once, to prove the result.
//
// Nothing changes when a step before 3 fails. The old slots and the old
// recovery key are useless afterwards. No other process may use the store
// meanwhile (a server that unlocked with the old root key would go on
// wrapping new keys under it): the CLI holds the data directory's server
// lock.
func ImportRekey(ctx context.Context, cfg Config, b *bundle.Bundle, specs []string) (RekeyResult, error) {
	kw, err := OpenSealed(ctx, cfg)
	if err != nil {
		return RekeyResult{}, err
	}
	defer kw.Close()
	if err := kw.Unlock(ctx); err == nil {
		by, _ := kw.kr.UnlockedBy()
		return RekeyResult{}, fmt.Errorf("%w: slot %d (%s) opens it here, so it needs no new root key and nothing was changed; "+
			"to add a way in for this machine, use `keyward slot add SPEC`", ErrNotSealed, by.SlotID, by.Spec)
	} else if !errors.Is(err, ErrSealed) {
		return RekeyResult{}, err
	}
	if err := kw.sameDeployment(b); err != nil {
		return RekeyResult{}, err
	}
	keys, ignored, err := kw.rekeyKeys(ctx, b)
	if err != nil {
		return RekeyResult{}, err
	}
	rk, err := keyring.Rekey(ctx, kw.st, specs, cfg.sources(), keys)
	if err != nil {
		return RekeyResult{}, err
	}
	res := RekeyResult{DeploymentID: kw.DeploymentID(), RecoveryKey: rk, Keys: len(keys), Ignored: ignored}
	if err := kw.proveRekey(ctx, cfg, rk); err != nil {
		return res, err
	}
	res.Slots, err = kw.Slots(ctx)
	// This handle stays sealed (it knew no root key): record the rekey
	// through one that opens with the new slots.
	if now, oerr := Open(ctx, cfg); oerr == nil {
		_ = now.Audit(ctx, "keys.import.rekey", fmt.Sprintf("%d data keys, new slots", len(keys)), nil)
		now.Close()
	}
	return res, err
}

// rekeyKeys pairs every stored data key version with the export's key for
// it and checks each against a sample of its rows. It lists what the
// export holds beyond the store.
func (kw *Keyward) rekeyKeys(ctx context.Context, b *bundle.Bundle) ([]keyring.ClearDataKey, []string, error) {
	dbs, err := kw.st.Databases(ctx)
	if err != nil {
		return nil, nil, err
	}
	exported := map[string]bundle.Database{}
	for _, bdb := range b.Databases {
		exported[bdb.ID] = bdb
	}
	var (
		keys                    []keyring.ClearDataKey
		missing, wrong, ignored []string
	)
	for _, db := range dbs {
		stored, err := kw.st.DataKeys(ctx, db.ID)
		if err != nil {
			return nil, nil, err
		}
		byVersion := map[uint32]*secret.Key{}
		for _, k := range exported[db.ID].Keys {
			byVersion[k.Version] = k.Key
		}
		delete(exported, db.ID)
		dbKeys := map[uint32]*secret.Key{}
		for _, dk := range stored {
			key, ok := byVersion[dk.Version]
			if !ok {
				missing = append(missing, fmt.Sprintf("%s version %d", db.Name, dk.Version))
				continue
			}
			delete(byVersion, dk.Version)
			keys = append(keys, keyring.ClearDataKey{Stored: dk, Key: key})
			dbKeys[dk.Version] = key
		}
		for _, v := range slices.Sorted(maps.Keys(byVersion)) {
			ignored = append(ignored, fmt.Sprintf("%s version %d", db.Name, v))
		}
		bad, err := kw.wrongSamples(ctx, db, dbKeys)
		if err != nil {
			return nil, nil, err
		}
		wrong = append(wrong, bad...)
	}
	for _, bdb := range b.Databases {
		if _, left := exported[bdb.ID]; left {
			ignored = append(ignored, fmt.Sprintf("database %s (id %s; not in this store)", bdb.Name, bdb.ID))
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("keyward: import --rekey: the export lacks key versions this store holds: %s; "+
			"the rows under them could never be read again: use an export made after they were created, or unlock with the recovery key "+
			"and add a slot for this machine (`keyward slot add auto`); nothing was changed", strings.Join(missing, ", "))
	}
	if len(wrong) > 0 {
		return nil, nil, fmt.Errorf("keyward: import --rekey: the export's key does not open the rows stored under %s: "+
			"the export is of another copy of this deployment, or the keys changed after it was made; nothing was changed",
			strings.Join(wrong, ", "))
	}
	return keys, ignored, nil
}

// wrongSamples tries each key on a sample of the rows stored under its
// version and names the versions whose key does not open it.
func (kw *Keyward) wrongSamples(ctx context.Context, db store.Database, keys map[uint32]*secret.Key) ([]string, error) {
	usage, err := kw.usageOf(ctx, db.ID)
	if err != nil {
		return nil, err
	}
	maps.DeleteFunc(usage, func(v uint32, _ store.KeyUsage) bool { return keys[v] == nil })
	d := &Database{kw: kw, db: db}
	samples, err := d.findSamples(ctx, usage)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range slices.Sorted(maps.Keys(samples)) {
		s := samples[v]
		if d.opens(s, keys[v]) {
			continue
		}
		out = append(out, fmt.Sprintf("%s version %d (%s)", db.Name, v, s.name()))
	}
	return out, nil
}

// proveRekey unlocks with the new slots and unwraps every data key once.
func (kw *Keyward) proveRekey(ctx context.Context, cfg Config, recoveryKey string) error {
	src := cfg.sources()
	src.RecoveryKey = func(context.Context) (string, error) { return recoveryKey, nil }
	attempts, err := kw.kr.UnlockWith(ctx, src)
	kw.logAttempts(attempts)
	if err != nil {
		return fmt.Errorf("keyward: import --rekey: the new root key is stored, but the new slots do not unlock: %w", err)
	}
	dbs, err := kw.st.Databases(ctx)
	if err != nil {
		return err
	}
	for _, db := range dbs {
		keys, err := kw.st.DataKeys(ctx, db.ID)
		if err != nil {
			return err
		}
		for _, dk := range keys {
			key, err := kw.kr.UnwrapDataKey(dk)
			if err != nil {
				return fmt.Errorf("keyward: import --rekey: the new root key is stored, but %w", err)
			}
			key.Wipe()
		}
	}
	return nil
}
