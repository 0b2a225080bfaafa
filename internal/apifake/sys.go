package apifake

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := api.Health{Status: "ok", Sealed: s.sealed, Maintenance: s.maint.Enabled, Reason: s.maint.Reason}
	s.mu.Unlock()
	status := http.StatusOK
	switch {
	case h.Sealed:
		h.Status, status = "sealed", http.StatusServiceUnavailable
	case h.Maintenance:
		h.Status, status = "maintenance", http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, t api.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := api.Status{Version: "fake", Sealed: s.sealed, Maintenance: s.maint}
	if t.Role == api.RoleAdmin && !s.sealed {
		d := &api.DeploymentStatus{Store: "fake:", DeploymentID: "00000000000000000000000000000000", SchemaVersion: 1,
			MemoryLocked: true, Slots: []api.Slot{{ID: 1, Priority: 10, Spec: "auto", Unlocked: true}}}
		d.UnlockedBy = &d.Slots[0]
		for _, name := range slices.Sorted(maps.Keys(s.dbs)) {
			db := s.dbs[name]
			ds := api.DatabaseStatus{Name: name, Created: db.info.Created, Entries: int64(len(db.entries))}
			for _, e := range db.entries {
				ds.Attachments += int64(len(e.atts))
			}
			ds.Keys = []api.KeyStatus{{Version: 1, State: "primary", Created: db.info.Created, Entries: ds.Entries, Attachments: ds.Attachments}}
			d.Databases = append(d.Databases, ds)
		}
		st.Deployment = d
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, _ api.Token) {
	var req api.UnlockRequest
	if !readJSON(w, r, &req) {
		return
	}
	if (req.Passphrase == "") == (req.RecoveryKey == "") {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "give a passphrase or a recovery key")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sealed {
		writeJSON(w, http.StatusOK, api.UnlockResponse{Already: true})
		return
	}
	slot := &api.SlotAttempt{ID: 1, Spec: "env:PASS"}
	if req.RecoveryKey != "" {
		slot = &api.SlotAttempt{ID: 2, Spec: "recovery"}
	}
	if (req.Passphrase != "" && req.Passphrase == s.Passphrase) || (req.RecoveryKey != "" && req.RecoveryKey == s.RecoveryKey) {
		s.sealed = false
		writeJSON(w, http.StatusOK, api.UnlockResponse{Slot: slot})
		return
	}
	slot.Error = "does not open this slot"
	writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.Error{Code: api.CodeUnlockFailed,
		Message: "no slot opened with what was given", Slots: []api.SlotAttempt{*slot}}})
}

func (s *Server) getMaintenance(w http.ResponseWriter, r *http.Request, _ api.Token) {
	s.mu.Lock()
	m := s.maint
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) setMaintenance(w http.ResponseWriter, r *http.Request, _ api.Token) {
	var req api.MaintenanceRequest
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	if req.Enabled {
		if !s.maint.Enabled {
			s.maint.Since = now()
		}
		s.maint.Enabled, s.maint.Reason = true, req.Reason
	} else {
		s.maint = api.Maintenance{}
	}
	m := s.maint
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ api.Token) {
	var req api.CreateToken
	if !readJSON(w, r, &req) {
		return
	}
	if roleRank[req.Role] == 0 {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "role must be admin, writer or reader")
		return
	}
	t := api.Token{ID: randomHex(8), Name: req.Name, Role: req.Role, Databases: req.Databases, Created: now()}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, api.CodeBadRequest, "ttl must be a positive duration")
			return
		}
		t.Expires = t.Created.Add(d)
	}
	secret := "kw_" + t.ID + "_" + randomHex(16)
	s.mu.Lock()
	s.tokens[secret] = tokenRec{Token: t, secret: secret}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, api.TokenCreated{Token: t, Secret: secret})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ api.Token) {
	s.mu.Lock()
	out := api.TokenList{Tokens: []api.Token{}}
	for _, t := range s.tokens {
		out.Tokens = append(out.Tokens, t.Token)
	}
	s.mu.Unlock()
	slices.SortFunc(out.Tokens, func(a, b api.Token) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, _ api.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for secret, t := range s.tokens {
		if t.ID == r.PathValue("id") {
			delete(s.tokens, secret)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, api.CodeNotFound, "token "+strconv.Quote(r.PathValue("id"))+": not found")
}
