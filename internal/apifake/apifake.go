// Package apifake is an in-memory stand-in for keyward's HTTP API, for
// tests of package client and of the CLI's client mode. It follows the
// wire contract of package api (routes, status codes, error codes, paging,
// compare and swap, Range, roles, sealing and maintenance) but encrypts
// nothing and keeps everything in memory. It is not a server: never use it
// outside tests.
package apifake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/api"
)

// Server is the fake. Its exported fields may be set before use.
type Server struct {
	// Passphrase and RecoveryKey unlock a sealed fake.
	Passphrase, RecoveryKey string
	// RetryAfter is sent with maintenance answers (seconds).
	RetryAfter int

	mu     sync.Mutex
	sealed bool
	maint  api.Maintenance
	tokens map[string]tokenRec // by secret
	dbs    map[string]*database
	mux    *http.ServeMux
}

type tokenRec struct {
	api.Token
	secret string
}

type database struct {
	info    api.Database
	entries map[string]*entry
}

type entry struct {
	api.Entry
	atts map[string]*attachment
}

type attachment struct {
	api.Attachment
	data []byte
}

// New returns an unsealed fake with one admin token whose secret is
// adminToken.
func New(adminToken string) *Server {
	s := &Server{tokens: map[string]tokenRec{}, dbs: map[string]*database{}, RetryAfter: 30}
	s.tokens[adminToken] = tokenRec{Token: api.Token{ID: "tok-admin", Name: "admin", Role: api.RoleAdmin, Created: now()}, secret: adminToken}
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/sys/health", s.health)
	m.HandleFunc("GET /v1/sys/status", s.auth(api.RoleReader, false, s.status))
	m.HandleFunc("POST /v1/sys/unlock", s.auth(api.RoleAdmin, false, s.unlock))
	m.HandleFunc("GET /v1/sys/maintenance", s.auth(api.RoleReader, false, s.getMaintenance))
	m.HandleFunc("POST /v1/sys/maintenance", s.auth(api.RoleAdmin, false, s.setMaintenance))
	m.HandleFunc("GET /v1/db", s.auth(api.RoleReader, true, s.listDBs))
	m.HandleFunc("POST /v1/db", s.auth(api.RoleWriter, true, s.createDB))
	m.HandleFunc("GET /v1/db/{db}/entries", s.auth(api.RoleReader, true, s.listEntries))
	m.HandleFunc("/v1/db/{db}/entries/{rest...}", s.auth("", true, s.entryRoute))
	m.HandleFunc("POST /v1/tokens", s.auth(api.RoleAdmin, true, s.createToken))
	m.HandleFunc("GET /v1/tokens", s.auth(api.RoleAdmin, true, s.listTokens))
	m.HandleFunc("DELETE /v1/tokens/{id}", s.auth(api.RoleAdmin, true, s.deleteToken))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such route")
	})
	s.mux = m
	return s
}

// Seal makes the fake answer data requests with 503 sealed until unlocked.
func (s *Server) Seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed = true
}

// Sealed reports whether the fake is sealed.
func (s *Server) Sealed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealed
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var roleRank = map[string]int{api.RoleReader: 1, api.RoleWriter: 2, api.RoleAdmin: 3}

// auth checks the bearer token and the role (role "" lets the handler check
// by method). data marks routes that a sealed fake or maintenance refuses
// (data routes; tokens are refused only while sealed).
func (s *Server) auth(role string, data bool, h func(w http.ResponseWriter, r *http.Request, t api.Token)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		t, known := s.tokens[secret]
		sealed, maint := s.sealed, s.maint
		s.mu.Unlock()
		switch {
		case !ok || !known:
			writeError(w, http.StatusUnauthorized, api.CodeUnauthorized, "missing, unknown or revoked token")
			return
		case !t.Expires.IsZero() && time.Now().After(t.Expires):
			writeError(w, http.StatusUnauthorized, api.CodeUnauthorized, "token expired")
			return
		}
		need := role
		if need == "" {
			need = api.RoleReader
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				need = api.RoleWriter
			}
		}
		if roleRank[t.Role] < roleRank[need] {
			writeError(w, http.StatusForbidden, api.CodeForbidden, "a "+t.Role+" token cannot do this")
			return
		}
		if db := r.PathValue("db"); db != "" && len(t.Databases) > 0 && !contains(t.Databases, db) {
			writeError(w, http.StatusForbidden, api.CodeForbidden, "this token is not allowed database "+db)
			return
		}
		switch {
		case data && sealed:
			writeError(w, http.StatusServiceUnavailable, api.CodeSealed, "the server is sealed")
			return
		case data && maint.Enabled && !strings.HasPrefix(r.URL.Path, "/v1/tokens"):
			w.Header().Set("Retry-After", itoa(int64(s.RetryAfter)))
			writeError(w, http.StatusServiceUnavailable, api.CodeMaintenance, "maintenance: "+maint.Reason)
			return
		}
		h(w, r, t.Token)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
}

// readJSON decodes a JSON request body, answering 415 or 400 itself.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, "send application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "malformed JSON: "+err.Error())
		return false
	}
	return true
}
