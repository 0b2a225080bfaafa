package keyward

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/keyring"
)

// RotateOptions tune RotateRoot.
type RotateOptions struct {
	// DropUnavailableSlots removes the slots whose provider cannot wrap the
	// new root key now, instead of failing. The last slot is never dropped.
	DropUnavailableSlots bool
	// RecoveryKey, when set, lets the recovery slot wrap the new root key
	// (else Config.RecoveryKey is used).
	RecoveryKey string
}

// RotateSummary says what a root key rotation did.
type RotateSummary = api.RotateSummary

// RotateRoot replaces the root key: a new random root key wraps every data
// key (of every database, every version) and every slot, all in one store
// transaction, so its time grows with the number of keys, not of entries.
// Every slot's provider must wrap the new root key now (the recovery slot
// needs the recovery key, env: slots their passphrase, exec: slots their
// command); otherwise nothing changes and the error (a
// *keyring.RotateError) says which slots and why, unless
// DropUnavailableSlots removes them. It is audited as "keys.rotate-root".
//
// Run it while no other process writes to the store (or through the
// server): another process keeps the old root key in memory, and a data
// key it created afterwards would be wrapped under the old one.
func (kw *Keyward) RotateRoot(ctx context.Context, opts RotateOptions) (RotateSummary, error) {
	start := time.Now()
	ko := keyring.RotateOptions{DropUnavailable: opts.DropUnavailableSlots}
	if opts.RecoveryKey != "" {
		src := kw.cfg.sources()
		rk := opts.RecoveryKey
		src.RecoveryKey = func(context.Context) (string, error) { return rk, nil }
		ko.Sources = &src
	}
	var dropped []string
	// A rotation that succeeds is audited in its own transaction (keyring
	// fills in the target); one that fails, right after.
	rec := kw.auditRecord(ctx, "keys.rotate-root", "", nil)
	ko.Audit = &rec
	r, err := kw.kr.RotateRoot(ctx, ko)
	if err != nil {
		return RotateSummary{}, kw.Audit(ctx, "keys.rotate-root", "", err)
	}
	out := RotateSummary{Databases: r.Databases, DataKeys: r.DataKeys, Duration: time.Since(start)}
	for _, s := range r.Slots {
		out.Slots = append(out.Slots, api.SlotAttempt{ID: s.ID, Spec: s.Spec})
	}
	for _, p := range r.Dropped {
		out.Dropped = append(out.Dropped, api.SlotAttempt{ID: p.SlotID, Spec: p.Spec, Error: p.Err.Error()})
		out.RecoveryDropped = out.RecoveryDropped || p.Spec == "recovery"
		dropped = append(dropped, fmt.Sprint(p.SlotID))
	}
	kw.log.Info("root key rotated", "databases", r.Databases, "data_keys", r.DataKeys, "slots", len(r.Slots),
		"dropped_slots", strings.Join(dropped, ","), "duration", out.Duration)
	return out, nil
}
