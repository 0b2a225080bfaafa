package keyward

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/api"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// Slot describes one way to unlock the root key.
type Slot = api.Slot

// Status is what `keyward status` shows.
type Status = api.DeploymentStatus

// DatabaseStatus lists a database's key versions and what uses them.
type DatabaseStatus = api.DatabaseStatus

// KeyStatus is one data key version.
type KeyStatus = api.KeyStatus

// Slots lists the slots in priority order, marking the one that unlocked.
func (kw *Keyward) Slots(ctx context.Context) ([]Slot, error) {
	ss, err := kw.kr.Slots(ctx)
	if err != nil {
		return nil, err
	}
	by, unlocked := kw.kr.UnlockedBy()
	reasons := map[int64]string{}
	for _, a := range kw.kr.Attempts() {
		if a.Err != nil {
			reasons[a.SlotID] = a.Err.Error()
		}
	}
	out := make([]Slot, len(ss))
	for i, s := range ss {
		out[i] = Slot{ID: s.ID, Priority: s.Priority, Spec: s.Spec, Created: s.Created,
			Unlocked: unlocked && by.SlotID == s.ID, Error: reasons[s.ID]}
	}
	return out, nil
}

// AddSlot adds a way to unlock: the root key wrapped by the provider named
// by spec (e.g. "env:KEYWARD_PASSPHRASE", "file:/etc/keyward.key"). The new
// slot is tested before it is stored. priority 0 places it after the other
// ordinary slots. A slot with the same spec that cannot unlock any more (a
// lost key file) is replaced; one that still works makes AddSlot refuse.
func (kw *Keyward) AddSlot(ctx context.Context, spec string, priority int) (Slot, error) {
	a, err := kw.kr.AddSlot(ctx, spec, priority)
	target := spec
	if err == nil {
		target = fmt.Sprintf("slot %d (%s)", a.Slot.ID, spec)
		if a.Replaced != 0 {
			target += fmt.Sprintf(", replaced slot %d", a.Replaced)
		}
	}
	if err := kw.Audit(ctx, "slot.add", target, err); err != nil {
		return Slot{}, err
	}
	s := a.Slot
	return Slot{ID: s.ID, Priority: s.Priority, Spec: s.Spec, Created: s.Created, Replaced: a.Replaced}, nil
}

// RemoveSlot removes a slot unless it is the last one that can unlock now
// (*keyring.LastSlotError).
func (kw *Keyward) RemoveSlot(ctx context.Context, id int64) error {
	return kw.Audit(ctx, "slot.rm", fmt.Sprintf("slot %d", id), kw.kr.RemoveSlot(ctx, id))
}

// Status reports the deployment, its slots, and per database the key
// versions with how many entries and attachments use each.
func (kw *Keyward) Status(ctx context.Context) (*Status, error) {
	m, err := kw.st.Meta(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Store: kw.storeName(), DeploymentID: m.DeploymentID, SchemaVersion: m.SchemaVersion,
		Sealed: kw.kr.Sealed(), MemoryLocked: !secret.Memory().Unlocked}
	if st.Slots, err = kw.Slots(ctx); err != nil {
		return nil, err
	}
	for i := range st.Slots {
		if st.Slots[i].Unlocked {
			st.UnlockedBy = &st.Slots[i]
		}
	}
	dbs, err := kw.st.Databases(ctx)
	if err != nil {
		return nil, err
	}
	for _, db := range dbs {
		ds, err := kw.databaseStatus(ctx, db)
		if err != nil {
			return nil, err
		}
		st.Databases = append(st.Databases, ds)
	}
	return st, nil
}

func (kw *Keyward) databaseStatus(ctx context.Context, db store.Database) (DatabaseStatus, error) {
	ds := DatabaseStatus{Name: db.Name, Created: db.Created}
	keys, err := kw.st.DataKeys(ctx, db.ID)
	if err != nil {
		return ds, err
	}
	usage, err := kw.st.KeyUsage(ctx, db.ID)
	if err != nil {
		return ds, err
	}
	byVersion := map[uint32]store.KeyUsage{}
	for _, u := range usage {
		byVersion[u.Version] = u
		ds.Entries += u.Entries
		ds.Attachments += u.Attachments
	}
	for _, k := range keys {
		u := byVersion[k.Version]
		ds.Keys = append(ds.Keys, KeyStatus{Version: k.Version, State: k.State.String(), Created: k.Created,
			Encryptions: k.Encryptions, Entries: u.Entries, Attachments: u.Attachments})
	}
	return ds, nil
}

func (kw *Keyward) storeName() string {
	if kw.cfg.Store != nil || kw.cfg.DataDir == "" {
		return "custom"
	}
	return "sqlite:" + kw.cfg.DataDir
}
