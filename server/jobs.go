package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// jobRunner runs key jobs (regenerations) in the server process, in the
// background of the context ResumeJobs was given.
type jobRunner struct {
	mu      sync.Mutex
	ctx     context.Context // nil until ResumeJobs
	running map[string]bool
}

// ResumeJobs lets the server run jobs in the background until ctx ends,
// and starts every job in state running that no live process holds (one
// whose runner died: its lease expired). Call it once the deployment is
// unlocked; an unlock through the API calls it again.
func (s *Server) ResumeJobs(ctx context.Context) {
	s.jobs.mu.Lock()
	s.jobs.ctx = ctx
	s.jobs.mu.Unlock()
	if s.kw.Sealed() {
		return
	}
	jobs, err := s.kw.Jobs(ctx)
	if err != nil {
		s.log.Warn("could not list jobs to resume", "error", err)
		return
	}
	for _, j := range jobs {
		if j.State == "running" {
			s.startJob(j.ID)
		}
	}
}

// startJob runs a job in the background unless this server runs it
// already. A job another live process holds is left to it.
func (s *Server) startJob(id string) {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	if s.jobs.ctx == nil || s.jobs.running[id] {
		return
	}
	if s.jobs.running == nil {
		s.jobs.running = map[string]bool{}
	}
	s.jobs.running[id] = true
	ctx := s.jobs.ctx
	go func() {
		defer func() {
			s.jobs.mu.Lock()
			delete(s.jobs.running, id)
			s.jobs.mu.Unlock()
		}()
		s.log.Info("running job", "job", id)
		err := s.kw.RunJob(ctx, id, nil)
		switch {
		case errors.Is(err, keyward.ErrConflict):
			s.log.Info("job not run here: another process runs it, or it is not running", "job", id)
		case err != nil:
			s.log.Warn("job ended with an error", "job", id, "error", err)
		default:
			s.log.Info("job stopped", "job", id)
		}
	}()
}

func (s *Server) regenerate(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.RegenerateRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Rate < 0 {
		return badRequest("rate: must be 0 (no limit) or a positive number of entries per second")
	}
	if req.DryRun {
		counts, err := s.kw.CountRegenerate(r.Context(), req.Databases)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, api.DryRun{Databases: counts})
		return nil
	}
	s.jobs.mu.Lock()
	ready := s.jobs.ctx != nil
	s.jobs.mu.Unlock()
	if !ready {
		return errorf(http.StatusServiceUnavailable, api.CodeSealed, "this server does not run jobs yet; unlock it first")
	}
	// The client wrote the backup (an export) before asking.
	job, err := s.kw.Regenerate(r.Context(), keyward.RegenerateOptions{Databases: req.Databases,
		Offline: req.Offline, Rate: req.Rate, NoBackup: true})
	if err != nil {
		return keyConflict(err)
	}
	s.log.Info("regeneration started", "job", job.ID, "token", tok.ID)
	s.startJob(job.ID)
	writeJSON(w, http.StatusAccepted, job)
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	jobs, err := s.kw.Jobs(r.Context())
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []keyward.Job{}
	}
	writeJSON(w, http.StatusOK, api.JobList{Jobs: jobs})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	j, err := s.kw.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// jobAction serves POST /v1/keys/jobs/{id}/pause, resume and cancel.
func (s *Server) jobAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
		id := r.PathValue("id")
		var (
			j   *keyward.Job
			err error
		)
		switch action {
		case "pause":
			j, err = s.kw.PauseJob(r.Context(), id)
		case "resume":
			if j, err = s.kw.ResumeJob(r.Context(), id); err == nil {
				s.startJob(id)
			}
		default:
			j, err = s.kw.CancelJob(r.Context(), id)
		}
		if err != nil {
			return keyConflict(err)
		}
		s.log.Info("job "+action, "job", id, "token", tok.ID)
		writeJSON(w, http.StatusOK, j)
		return nil
	}
}

func (s *Server) destroyKey(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	v, err := strconv.ParseUint(r.PathValue("version"), 10, 32)
	if err != nil || v == 0 {
		return badRequest("version: want a key version number (1, 2, …)")
	}
	db := r.PathValue("db")
	if err := s.kw.DestroyKey(r.Context(), db, uint32(v)); err != nil {
		return keyConflict(err)
	}
	s.log.Info("data key destroyed", "database", db, "version", v, "token", tok.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resumeJobsAfterUnlock resumes the jobs a sealed start could not, if
// ResumeJobs was called.
func (s *Server) resumeJobsAfterUnlock() {
	s.jobs.mu.Lock()
	ctx := s.jobs.ctx
	s.jobs.mu.Unlock()
	if ctx != nil {
		go s.ResumeJobs(ctx)
	}
}

// keyConflict answers the library's ErrConflict of a key or job operation
// with 409 conflict, as api/openapi.yaml documents for these routes (and
// as rotate-root and import answer theirs); toAPIError would make it 412,
// which is for entry revisions.
func keyConflict(err error) error {
	if errors.Is(err, keyward.ErrConflict) {
		return errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	}
	return err
}
