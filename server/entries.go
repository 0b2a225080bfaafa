package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) listDatabases(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	dbs, err := s.kw.Databases(r.Context())
	if err != nil {
		return err
	}
	out := api.DatabaseList{Databases: []api.Database{}}
	for _, d := range dbs {
		if tok.Allows(d.Name, false) {
			out.Databases = append(out.Databases, api.Database{Name: d.Name, Created: d.Created})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createDatabase(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	if tok.Role == keyward.RoleReader {
		return forbidden(tok, "a reader token cannot create databases")
	}
	var req api.CreateDatabase
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if !tok.Allows(req.Name, true) {
		return forbidden(tok, "this token may not write database %q", req.Name)
	}
	db, err := s.kw.CreateDatabase(r.Context(), req.Name)
	if err != nil {
		return err
	}
	// The library does not return the creation time; read it back.
	out := api.Database{Name: db.Name()}
	if dbs, err := s.kw.Databases(r.Context()); err == nil {
		for _, d := range dbs {
			if d.Name == db.Name() {
				out.Created = d.Created
			}
		}
	}
	s.log.Info("database created", "database", req.Name, "token", tok.ID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	q := r.URL.Query()
	limit := api.DefaultLimit
	if v := q.Get(api.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxLimit {
			return badRequest("%s must be a number from 1 to %d", api.QueryLimit, api.MaxLimit)
		}
		limit = n
	}
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	// One more than asked tells whether there is a next page.
	es, err := db.ListPage(r.Context(), q.Get(api.QueryPrefix), q.Get(api.QueryAfter), limit+1)
	if err != nil {
		return err
	}
	out := api.EntryList{Entries: make([]api.Entry, 0, min(len(es), limit))}
	if len(es) > limit {
		es = es[:limit]
		out.Next = es[limit-1].Path
	}
	for _, e := range es {
		out.Entries = append(out.Entries, toAPIEntry(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	e, err := db.Get(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	setRevision(w, e.Revision)
	writeJSON(w, http.StatusOK, toAPIEntry(e))
	return nil
}

// putEntry creates or replaces an entry; with If-Match or a revision in
// the body, only if the stored revision is that one (412 otherwise). The
// answer carries the new revision and no fields.
func (s *Server) putEntry(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	path := r.PathValue("path")
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	var req api.PutEntry
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	switch {
	case req.Revision < 0:
		return badRequest("revision must be positive")
	case ifMatch != 0 && req.Revision != 0 && ifMatch != req.Revision:
		return badRequest("If-Match (%d) and the body's revision (%d) disagree; send one of them", ifMatch, req.Revision)
	case ifMatch != 0:
		req.Revision = ifMatch
	}
	if req.Create && req.Revision != 0 {
		return badRequest("create and a revision (If-Match) exclude each other: create makes a new entry, a revision replaces one")
	}
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	in := keyward.Entry{Path: path, Type: req.Type, Tags: req.Tags, Fields: req.Fields, Revision: req.Revision}
	put := db.Put
	if req.Create {
		put = db.Create
	}
	e, err := put(r.Context(), in)
	if err != nil {
		return err
	}
	e.Fields = nil // not echoed back
	setRevision(w, e.Revision)
	code := http.StatusOK
	if e.Revision == 1 {
		code = http.StatusCreated
	}
	writeJSON(w, code, toAPIEntry(e))
	return nil
}

func (s *Server) deleteEntry(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	if err := db.Delete(r.Context(), r.PathValue("path"), ifMatch); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseIfMatch reads `If-Match: 7` or `If-Match: "7"`; 0 when absent.
func parseIfMatch(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get(api.HeaderIfMatch))
	if v == "" {
		return 0, nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("If-Match must be an entry revision, a positive number (optionally quoted)")
	}
	return n, nil
}

func setRevision(w http.ResponseWriter, rev int64) {
	v := strconv.FormatInt(rev, 10)
	w.Header().Set(api.HeaderETag, `"`+v+`"`)
	w.Header().Set(api.HeaderRevision, v)
}

func toAPIEntry(e keyward.Entry) api.Entry {
	return api.Entry{Path: e.Path, Type: e.Type, Tags: e.Tags, Fields: e.Fields, Revision: e.Revision,
		KeyVersion: e.KeyVersion, Created: e.Created, Updated: e.Updated}
}
