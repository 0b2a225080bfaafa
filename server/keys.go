package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/keyring"
)

// rotateRoot replaces the root key (see keyward.RotateRoot). The recovery
// key in the request, if any, is used for this request only.
func (s *Server) rotateRoot(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.RotateRootRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	sum, err := s.kw.RotateRoot(r.Context(), keyward.RotateOptions{
		DropUnavailableSlots: req.DropUnavailableSlots, RecoveryKey: req.RecoveryKey})
	if err != nil {
		if isRotateRefusal(err) {
			return errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
		}
		return err
	}
	s.log.Info("root key rotated", "data_keys", sum.DataKeys, "slots", len(sum.Slots), "dropped", len(sum.Dropped), "token", tok.ID)
	writeJSON(w, http.StatusOK, sum)
	return nil
}

// maxVerifyFailures caps the failures a verify answer lists.
const maxVerifyFailures = 1000

// verifyKeys opens every ciphertext of the chosen databases and answers
// the summary and the failures (at most max_failures of them).
func (s *Server) verifyKeys(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	var req api.VerifyRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	limit := req.MaxFailures
	if limit <= 0 || limit > maxVerifyFailures {
		limit = maxVerifyFailures
	}
	out := api.VerifyResponse{Failures: []api.VerifyFailure{}}
	sum, err := s.kw.Verify(r.Context(), keyward.VerifyOptions{Databases: req.Databases}, func(f keyward.VerifyFailure) {
		if len(out.Failures) < limit {
			out.Failures = append(out.Failures, f)
		} else {
			out.Truncated = true
		}
	})
	if err != nil {
		return err
	}
	out.Summary = sum
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listAudit pages through the audit log: ?after=SEQ&limit=N&since=RFC3339.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	q := keyward.AuditQuery{Limit: api.DefaultLimit}
	v := r.URL.Query()
	if a := v.Get(api.QueryAfter); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return badRequest("after must be a record's seq (a number >= 0)")
		}
		q.After = n
	}
	if l := v.Get(api.QueryLimit); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > api.MaxLimit {
			return badRequest("limit must be a number from 1 to %d", api.MaxLimit)
		}
		q.Limit = n
	}
	if t := v.Get(api.QuerySince); t != "" {
		since, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return badRequest("since must be an RFC 3339 time such as 2024-05-01T00:00:00Z")
		}
		q.Since = since
	}
	recs, err := s.kw.AuditRecords(r.Context(), q)
	if err != nil {
		return err
	}
	out := api.AuditList{Records: recs}
	if out.Records == nil {
		out.Records = []api.AuditRecord{}
	}
	if len(recs) == q.Limit {
		out.Next = recs[len(recs)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// verifyAudit checks the audit log's hash chain.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	var req api.AuditVerifyRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	v, err := s.kw.VerifyAudit(r.Context(), req.Anchor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func isRotateRefusal(err error) bool {
	var re *keyring.RotateError
	return errors.As(err, &re)
}
