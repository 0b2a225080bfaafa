package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// HeaderRequestID names each request in the answer and in the server log.
const HeaderRequestID = "Keyward-Request-Id"

// wrap turns a route's handler into an http.Handler: it authenticates,
// authorises, closes data routes while sealed or in maintenance, answers
// errors as JSON, logs the request and counts it.
func (s *Server) wrap(pattern string, acc access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, route: pattern}
		id := newRequestID()
		sw.Header().Set(HeaderRequestID, id)
		sw.Header().Set("Cache-Control", "no-store")
		var tok *keyward.Token
		defer func() {
			if p := recover(); p != nil {
				s.recovered(sw, r, id, p)
			}
			s.metrics.observe(sw, r.Method, start)
			s.logRequest(r, sw, id, tok, start)
		}()
		err := func() (err error) {
			if tok, err = s.authenticate(r, acc); err != nil {
				return err
			}
			if tok != nil { // audit records name the token that acted
				r = r.WithContext(keyward.WithActor(r.Context(), "token:"+tok.ID))
			} else {
				r = r.WithContext(keyward.WithActor(r.Context(), "anonymous"))
			}
			if err := authorize(tok, acc, r); err != nil {
				return err
			}
			if acc.data() {
				if err := s.gate(r.Context(), sw); err != nil {
					return err
				}
			}
			return h(sw, r, tok)
		}()
		if err != nil {
			s.fail(sw, r, id, err)
		}
	})
}

// recovered handles a panic in a handler. http.ErrAbortHandler (a download
// that must not look complete) passes on, so net/http drops the connection.
func (s *Server) recovered(sw *statusWriter, r *http.Request, id string, p any) {
	if p != http.ErrAbortHandler {
		s.log.Error("handler panicked", "request_id", id, "route", sw.route, "panic", fmt.Sprintf("%T", p))
		if sw.code == 0 {
			writeError(sw, internal(id))
			return
		}
	}
	sw.code = -1 // aborted
	s.metrics.observe(sw, r.Method, time.Now())
	s.logRequest(r, sw, id, nil, time.Now())
	panic(http.ErrAbortHandler)
}

// gate closes data routes while sealed or in maintenance.
func (s *Server) gate(ctx context.Context, w http.ResponseWriter) error {
	if s.kw.Sealed() {
		return errSealed()
	}
	m, err := s.maint.get(ctx)
	if err != nil {
		s.log.Error("cannot read the maintenance switch", "err", err)
		return errorf(http.StatusServiceUnavailable, api.CodeUnavailable,
			"the store cannot be read right now; try again")
	}
	if m.Enabled {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
		msg := "the server is in maintenance"
		if m.Reason != "" {
			msg += ": " + m.Reason
		}
		return errorf(http.StatusServiceUnavailable, api.CodeMaintenance, "%s; try again later", msg)
	}
	return nil
}

func errSealed() *apiError {
	return errorf(http.StatusServiceUnavailable, api.CodeSealed,
		"the server is sealed: no key slot has unlocked its keys; an admin can unlock it with "+
			"POST /v1/sys/unlock (passphrase or recovery key) or by restarting with the key source available")
}

// fail answers err, unless the answer has started (then the request log
// has the error).
func (s *Server) fail(w *statusWriter, r *http.Request, id string, err error) {
	e := s.toAPIError(r, id, err)
	if w.code != 0 {
		s.log.Warn("error after the answer started", "request_id", id, "err", err)
		return
	}
	writeError(w, e)
}

// toAPIError maps library errors to statuses and codes. Anything unknown is
// an internal error whose details stay in the log.
func (s *Server) toAPIError(r *http.Request, id string, err error) *apiError {
	var (
		ae  *apiError
		ie  *keyward.IntegrityError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ie):
		s.reportIntegrity(r.Context(), id, ie)
		e := errorf(http.StatusInternalServerError, api.CodeIntegrity, "%s", ie.Error())
		e.body.EntryID = ie.EntryID
		return e
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, keyward.ErrSealed):
		return errSealed()
	case errors.Is(err, keyward.ErrRootRotated):
		s.log.Error("the root key was rotated by another process and this server cannot load the new one: restart it",
			"request_id", id, "err", err)
		return errorf(http.StatusServiceUnavailable, api.CodeUnavailable,
			"the root key was rotated by another process and this server cannot load the new one with its key sources; an admin must restart it")
	case errors.Is(err, keyward.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeNotFound, "%s", err.Error())
	case errors.Is(err, keyward.ErrExists):
		return errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	case errors.Is(err, keyward.ErrConflict):
		return errorf(http.StatusPreconditionFailed, api.CodePreconditionFailed, "%s", err.Error())
	case errors.Is(err, keyward.ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "the request was cancelled")
	}
	s.log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	return internal(id)
}

func internal(id string) *apiError {
	return errorf(http.StatusInternalServerError, api.CodeInternal,
		"internal error; the server log has the details under request id %s", id)
}

// reportIntegrity logs, counts and remembers a record that failed to
// decrypt.
func (s *Server) reportIntegrity(ctx context.Context, id string, ie *keyward.IntegrityError) {
	s.log.LogAttrs(ctx, slog.LevelError, "record failed to decrypt",
		slog.String("request_id", id), slog.String("database", ie.Database),
		slog.String("entry_id", ie.EntryID), slog.String("path", ie.Path),
		slog.String("attachment", ie.Attachment), slog.Uint64("key_version", uint64(ie.KeyVersion)),
		slog.String("err", ie.Err.Error()))
	s.metrics.integrityFailures.WithLabelValues(ie.Database).Inc()
	s.integ.add(ie, time.Now())
}

func (s *Server) logRequest(r *http.Request, sw *statusWriter, id string, tok *keyward.Token, start time.Time) {
	// Successful requests log at debug level, so a busy server does not
	// spend its time writing access logs; refusals and failures at info
	// and warn.
	level := slog.LevelDebug
	switch {
	case sw.code >= 500 || sw.code < 0:
		level = slog.LevelWarn
	case sw.code >= 400:
		level = slog.LevelInfo
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", sw.route),
		slog.String("path", r.URL.Path), slog.Int("status", sw.code), slog.Int64("bytes", sw.written),
		slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr),
	}
	if tok != nil {
		attrs = append(attrs, slog.String("token", tok.ID))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
