package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/keyring"
)

// health answers 200 while data requests are served, 503 while sealed, in
// maintenance, or when the store cannot be read.
func (s *Server) health(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	h := api.Health{Status: "ok", Sealed: s.kw.Sealed()}
	m, err := s.maint.get(r.Context())
	switch {
	case err != nil:
		s.log.Error("health: cannot read the maintenance switch", "err", err)
		h.Status = "unavailable"
	case m.Enabled:
		h.Maintenance, h.Reason = true, m.Reason
	}
	switch {
	case h.Status == "unavailable":
	case h.Sealed:
		h.Status = "sealed"
	case h.Maintenance:
		h.Status = "maintenance"
	}
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
	return nil
}

// getStatus answers everyone with the state and version, and an admin with
// the deployment's slots, key versions and integrity failures too.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	st, err := s.status(r.Context(), tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// unlock tries a passphrase on the passphrase slots, or the recovery key
// on the recovery slot. One attempt runs at a time.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	var req api.UnlockRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if (req.Passphrase == "") == (req.RecoveryKey == "") {
		return badRequest("send exactly one of passphrase and recovery_key")
	}
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	if !s.kw.Sealed() {
		writeJSON(w, http.StatusOK, api.UnlockResponse{Already: true, Slot: s.unlockedSlot(r)})
		return nil
	}
	var err error
	if req.Passphrase != "" {
		err = s.kw.UnlockWithPassphrase(r.Context(), req.Passphrase)
	} else {
		err = s.kw.UnlockWithRecoveryKey(r.Context(), req.RecoveryKey)
	}
	var ue *keyring.UnlockError
	switch {
	case errors.As(err, &ue):
		e := errorf(http.StatusUnauthorized, api.CodeUnlockFailed,
			"no slot unlocked with what was given (reasons per slot below); check it and try again")
		for _, a := range ue.Attempts {
			e.body.Slots = append(e.body.Slots, slotAttempt(a))
		}
		s.log.Warn("unlock through the API failed", "slots", len(ue.Attempts))
		return e
	case errors.Is(err, keyward.ErrSealed):
		return errorf(http.StatusUnauthorized, api.CodeUnlockFailed, "%s", err.Error())
	case err != nil:
		return err
	}
	slot := s.unlockedSlot(r)
	if slot != nil {
		s.log.Info("unlocked through the API", "slot", slot.ID, "spec", slot.Spec)
	}
	s.resumeJobsAfterUnlock()
	writeJSON(w, http.StatusOK, api.UnlockResponse{Slot: slot})
	return nil
}

func (s *Server) unlockedSlot(r *http.Request) *api.SlotAttempt {
	slots, err := s.kw.Slots(r.Context())
	if err != nil {
		return nil
	}
	for _, sl := range slots {
		if sl.Unlocked {
			return &api.SlotAttempt{ID: sl.ID, Spec: sl.Spec}
		}
	}
	return nil
}

func slotAttempt(a keyring.Attempt) api.SlotAttempt {
	sa := api.SlotAttempt{ID: a.SlotID, Spec: a.Spec}
	if a.Err != nil {
		sa.Error = a.Err.Error()
	}
	return sa
}

func (s *Server) getMaintenance(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	m, err := s.maint.get(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPIMaintenance(m))
	return nil
}

func (s *Server) setMaintenance(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.MaintenanceRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	reason := strings.TrimSpace(req.Reason)
	if len(reason) > 500 || strings.ContainsFunc(reason, isControl) {
		return badRequest("reason: at most 500 characters, no control characters")
	}
	m, err := s.kw.SetMaintenance(r.Context(), req.Enabled, reason)
	if err != nil {
		return err
	}
	s.maint.set(m)
	s.log.Info("maintenance switched", "enabled", m.Enabled, "reason", m.Reason, "token", tok.ID)
	writeJSON(w, http.StatusOK, toAPIMaintenance(m))
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
