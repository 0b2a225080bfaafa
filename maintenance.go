package keyward

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/store"
)

// Maintenance is the deployment-wide maintenance switch. It lives in the
// store, so it holds for every server sharing the store and survives
// restarts. While Enabled, servers answer data requests with 503; the
// library itself does not refuse anything.
type Maintenance struct {
	Enabled bool      `json:"enabled"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

const maxReasonLen = 1024

// Maintenance reads the maintenance switch.
func (kw *Keyward) Maintenance(ctx context.Context) (Maintenance, error) {
	m, err := kw.st.Maintenance(ctx)
	if err != nil {
		return Maintenance{}, err
	}
	return Maintenance(m), nil
}

// SetMaintenance switches maintenance on or off. The reason is shown to
// clients. ErrSealed while sealed (a sealed deployment writes nothing).
func (kw *Keyward) SetMaintenance(ctx context.Context, enabled bool, reason string) (Maintenance, error) {
	if kw.Sealed() {
		return Maintenance{}, fmt.Errorf("keyward: set maintenance: %w", ErrSealed)
	}
	if reason != "" {
		if err := checkText("maintenance reason", reason, maxReasonLen); err != nil {
			return Maintenance{}, err
		}
	}
	if !enabled {
		reason = ""
	}
	op := "maintenance.off"
	if enabled {
		op = "maintenance.on"
	}
	m, err := kw.st.SetMaintenance(ctx, store.Maintenance{Enabled: enabled, Reason: reason})
	if err := kw.Audit(ctx, op, "", err); err != nil {
		return Maintenance{}, err
	}
	kw.log.Info("maintenance switched", "enabled", enabled)
	return Maintenance(m), nil
}

// UnlockWithPassphrase tries the passphrase slots (env:VAR) with pass, as if
// each slot's variable held it. Other slots are not tried. On failure the
// error is a *keyring.UnlockError saying why each passphrase slot failed.
// Unlocking an unlocked deployment does nothing.
func (kw *Keyward) UnlockWithPassphrase(ctx context.Context, pass string) error {
	if pass == "" {
		return invalid("empty passphrase")
	}
	src := kw.cfg.sources()
	src.Getenv = func(string) (string, bool) { return pass, true }
	return kw.unlockMatching(ctx, "unlock.passphrase", src, func(spec string) bool { return strings.HasPrefix(spec, "env:") })
}

// UnlockWithRecoveryKey tries the recovery slot with rk (the text printed by
// Init; spaces, dashes and case do not matter).
func (kw *Keyward) UnlockWithRecoveryKey(ctx context.Context, rk string) error {
	if strings.TrimSpace(rk) == "" {
		return invalid("empty recovery key")
	}
	src := kw.cfg.sources()
	src.RecoveryKey = func(context.Context) (string, error) { return rk, nil }
	return kw.unlockMatching(ctx, "unlock.recovery-key", src, func(spec string) bool { return spec == "recovery" })
}

func (kw *Keyward) unlockMatching(ctx context.Context, op string, src masterkey.Options, match func(string) bool) error {
	if !kw.Sealed() {
		return nil
	}
	attempts, err := kw.kr.UnlockMatching(ctx, src, match)
	kw.logAttempts(attempts)
	kw.auditUnlock(ctx, op, attempts, err)
	return err
}

// auditUnlock records an unlock attempt. A sealed deployment writes
// nothing, so a failed attempt is kept in memory (the first
// maxPendingAudit of them) and appended, with its own time, just before
// the record of the unlock that succeeds. Writing is best effort (a
// failure is logged): an unlock must work on a store that cannot be
// written, e.g. a read-only copy opened to recover data.
func (kw *Keyward) auditUnlock(ctx context.Context, op string, attempts []keyring.Attempt, err error) {
	if err != nil {
		kw.queueAudit(kw.auditRecord(ctx, op, "", err))
		return
	}
	target := ""
	if len(attempts) > 0 {
		a := attempts[len(attempts)-1]
		target = fmt.Sprintf("slot %d (%s)", a.SlotID, a.Spec)
	}
	kw.pendingMu.Lock()
	recs := append(kw.pending, kw.auditRecord(ctx, op, target, nil))
	if kw.dropped > 0 {
		more := kw.auditRecord(ctx, "sealed", fmt.Sprintf("%d more records made while sealed were not kept", kw.dropped), ErrSealed)
		recs = append(recs[:len(recs)-1:len(recs)-1], more, recs[len(recs)-1])
	}
	kw.pending, kw.dropped = nil, 0
	kw.pendingMu.Unlock()
	for _, r := range recs {
		if _, aerr := kw.st.AppendAudit(context.WithoutCancel(ctx), r); aerr != nil {
			kw.log.Warn("cannot write the audit record of an unlock", "op", r.Op, "err", aerr)
		}
	}
}

// queueAudit keeps a record made while sealed until the next unlock.
func (kw *Keyward) queueAudit(r audit.Record) {
	kw.pendingMu.Lock()
	defer kw.pendingMu.Unlock()
	if len(kw.pending) < maxPendingAudit {
		kw.pending = append(kw.pending, r)
	} else {
		kw.dropped++
	}
}

// maxPendingAudit bounds the failed unlock attempts kept while sealed.
const maxPendingAudit = 1000

func (kw *Keyward) logAttempts(attempts []keyring.Attempt) {
	for _, a := range attempts {
		if a.Err != nil {
			kw.log.Info("slot did not unlock", "slot", a.SlotID, "spec", a.Spec, "reason", a.Err)
		} else {
			kw.log.Info("unlocked", "slot", a.SlotID, "spec", a.Spec)
		}
	}
}
