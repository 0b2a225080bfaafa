package apifake

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward/api"
)

func (s *Server) listDBs(w http.ResponseWriter, r *http.Request, t api.Token) {
	s.mu.Lock()
	out := api.DatabaseList{Databases: []api.Database{}}
	for _, name := range slices.Sorted(maps.Keys(s.dbs)) {
		if len(t.Databases) == 0 || contains(t.Databases, name) {
			out.Databases = append(out.Databases, s.dbs[name].info)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createDB(w http.ResponseWriter, r *http.Request, _ api.Token) {
	var req api.CreateDatabase
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" || strings.ContainsAny(req.Name, " /") {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("database name %q: use only letters, digits, '-', '_' and '.'", req.Name))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dbs[req.Name]; ok {
		writeError(w, http.StatusConflict, api.CodeConflict, fmt.Sprintf("database %q already exists", req.Name))
		return
	}
	db := &database{info: api.Database{Name: req.Name, Created: now()}, entries: map[string]*entry{}}
	s.dbs[req.Name] = db
	writeJSON(w, http.StatusCreated, db.info)
}

// db returns the named database, or answers 404. s.mu is held.
func (s *Server) db(w http.ResponseWriter, name string) *database {
	db, ok := s.dbs[name]
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("database %q: not found", name))
	}
	return db
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request, _ api.Token) {
	q := r.URL.Query()
	limit := api.DefaultLimit
	if v := q.Get(api.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > api.MaxLimit {
			writeError(w, http.StatusBadRequest, api.CodeBadRequest, "limit must be 1 to 1000")
			return
		}
		limit = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db := s.db(w, r.PathValue("db"))
	if db == nil {
		return
	}
	out := api.EntryList{Entries: []api.Entry{}}
	for _, p := range slices.Sorted(maps.Keys(db.entries)) {
		if !strings.HasPrefix(p, q.Get(api.QueryPrefix)) || p <= q.Get(api.QueryAfter) {
			continue
		}
		if len(out.Entries) == limit {
			out.Next = out.Entries[limit-1].Path
			break
		}
		e := db.entries[p].Entry
		e.Fields = nil
		out.Entries = append(out.Entries, e)
	}
	writeJSON(w, http.StatusOK, out)
}

// entryRoute serves /v1/db/{db}/entries/{path...}[/attachments[/{name}]].
func (s *Server) entryRoute(w http.ResponseWriter, r *http.Request, _ api.Token) {
	escaped := r.URL.EscapedPath()
	i := strings.Index(escaped, "/entries/")
	u, err := api.ParseEntryURL(escaped[i+len("/entries/"):])
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	switch {
	case !u.Attachments && r.Method == http.MethodGet:
		s.getEntry(w, r, u.Path)
	case !u.Attachments && r.Method == http.MethodPut:
		s.putEntry(w, r, u.Path)
	case !u.Attachments && r.Method == http.MethodDelete:
		s.deleteEntry(w, r, u.Path)
	case u.Attachments && u.Name == "" && r.Method == http.MethodGet:
		s.listAttachments(w, r, u.Path)
	case u.Attachments && u.Name != "" && r.Method == http.MethodPut:
		s.putAttachment(w, r, u.Path, u.Name)
	case u.Attachments && u.Name != "" && r.Method == http.MethodGet:
		s.getAttachment(w, r, u.Path, u.Name)
	case u.Attachments && u.Name != "" && r.Method == http.MethodDelete:
		s.deleteAttachment(w, r, u.Path, u.Name)
	default:
		writeError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, r.Method+" is not allowed here")
	}
}

// entry returns the entry at path, or answers 404. s.mu is held.
func (s *Server) entry(w http.ResponseWriter, r *http.Request, path string) (*database, *entry) {
	db := s.db(w, r.PathValue("db"))
	if db == nil {
		return nil, nil
	}
	e, ok := db.entries[path]
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("entry %q in database %q: not found", path, db.info.Name))
		return nil, nil
	}
	return db, e
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.entry(w, r, path); e != nil {
		w.Header().Set(api.HeaderETag, strconv.Quote(itoa(e.Revision)))
		writeJSON(w, http.StatusOK, e.Entry)
	}
}

// ifMatch parses If-Match (0 when absent); ok is false after a 400.
func ifMatch(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := strings.Trim(r.Header.Get(api.HeaderIfMatch), `"`)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "If-Match must be a revision number")
		return 0, false
	}
	return n, true
}

func (s *Server) putEntry(w http.ResponseWriter, r *http.Request, path string) {
	var req api.PutEntry
	if !readJSON(w, r, &req) {
		return
	}
	want, ok := ifMatch(w, r)
	if !ok {
		return
	}
	switch {
	case want != 0 && req.Revision != 0 && want != req.Revision:
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "If-Match and revision disagree")
		return
	case req.Create && (want != 0 || req.Revision != 0):
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "create excludes a revision")
		return
	case want == 0:
		want = req.Revision
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db := s.db(w, r.PathValue("db"))
	if db == nil {
		return
	}
	old, exists := db.entries[path]
	switch {
	case req.Create && exists:
		writeError(w, http.StatusConflict, api.CodeConflict, fmt.Sprintf("entry %q: already exists", path))
		return
	case want != 0 && !exists:
		writeError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed, fmt.Sprintf("entry %q: conflict (it does not exist, expected revision %d)", path, want))
		return
	case want != 0 && old.Revision != want:
		writeError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed,
			fmt.Sprintf("entry %q: conflict: expected revision %d, stored revision is %d; read it again and retry", path, want, old.Revision))
		return
	}
	e := &entry{Entry: api.Entry{Path: path, Type: req.Type, Tags: req.Tags, Fields: req.Fields, Revision: 1, KeyVersion: 1, Created: now(), Updated: now()},
		atts: map[string]*attachment{}}
	if exists {
		e.Revision, e.Created, e.atts = old.Revision+1, old.Created, old.atts
	}
	db.entries[path] = e
	w.Header().Set(api.HeaderETag, strconv.Quote(itoa(e.Revision)))
	writeJSON(w, http.StatusOK, e.Entry)
}

func (s *Server) deleteEntry(w http.ResponseWriter, r *http.Request, path string) {
	want, ok := ifMatch(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, e := s.entry(w, r, path)
	if e == nil {
		return
	}
	if want != 0 && e.Revision != want {
		writeError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed,
			fmt.Sprintf("entry %q: conflict: it changed since revision %d", path, want))
		return
	}
	delete(db.entries, path)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listAttachments(w http.ResponseWriter, r *http.Request, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.entry(w, r, path)
	if e == nil {
		return
	}
	out := api.AttachmentList{Attachments: []api.Attachment{}}
	for _, n := range slices.Sorted(maps.Keys(e.atts)) {
		out.Attachments = append(out.Attachments, e.atts[n].Attachment)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putAttachment(w http.ResponseWriter, r *http.Request, path, name string) {
	s.mu.Lock()
	_, e := s.entry(w, r, path)
	s.mu.Unlock()
	if e == nil {
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "upload broke off; nothing stored")
		return
	}
	a := &attachment{Attachment: api.Attachment{Name: name, Size: int64(len(data)), KeyVersion: 1, Created: now()}, data: data}
	s.mu.Lock()
	e.atts[name] = a
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, a.Attachment)
}

func (s *Server) attachment(w http.ResponseWriter, r *http.Request, path, name string) (*entry, *attachment) {
	_, e := s.entry(w, r, path)
	if e == nil {
		return nil, nil
	}
	a, ok := e.atts[name]
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("attachment %q of entry %q: not found", name, path))
	}
	return e, a
}

func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request, path, name string) {
	s.mu.Lock()
	_, a := s.attachment(w, r, path, name)
	s.mu.Unlock()
	if a == nil {
		return
	}
	data := a.data
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		first, last, ok := parseRange(rg, int64(len(data)))
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, api.CodeRangeNotSatisfiable, "range not satisfiable")
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(data)))
		data, status = data[first:last+1], http.StatusPartialContent
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", itoa(int64(len(data))))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// parseRange parses one "bytes=FIRST-[LAST]" range within size bytes.
func parseRange(v string, size int64) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 {
		return 0, 0, false
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first >= size {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, size-1)
	}
	return first, last, true
}

func (s *Server) deleteAttachment(w http.ResponseWriter, r *http.Request, path, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, a := s.attachment(w, r, path, name); a != nil {
		delete(e.atts, name)
		w.WriteHeader(http.StatusNoContent)
	}
}
