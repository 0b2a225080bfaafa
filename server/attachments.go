package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) listAttachments(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	as, err := db.Attachments(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	out := api.AttachmentList{Attachments: make([]api.Attachment, len(as))}
	for i, a := range as {
		out.Attachments[i] = toAPIAttachment(a)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putAttachment streams the body into the store: memory does not grow with
// its size, and a body that ends early, exceeds the limit or stalls stores
// nothing.
func (s *Server) putAttachment(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	limit := s.cfg.MaxAttachmentBytes
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the answer comes after the whole upload
	body := &progressReader{r: http.MaxBytesReader(w, r.Body, limit), rc: rc, stall: s.cfg.StallTimeout}
	a, err := db.PutAttachment(r.Context(), r.PathValue("path"), r.PathValue("name"), body)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(body.err, &mbe):
			return tooLarge(limit)
		case body.err != nil:
			s.log.Info("upload ended early; nothing stored", "err", body.err)
			return badRequest("the upload ended before the end of its body; nothing was stored, send it again")
		}
		return err
	}
	_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	writeJSON(w, http.StatusCreated, toAPIAttachment(a))
	return nil
}

// getAttachment streams an attachment, honouring Range. A chunk that fails
// to authenticate aborts the connection: the client sees a truncated body,
// never bytes that were not authentic, and never a complete-looking one.
func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	ar, err := db.OpenAttachment(r.Context(), r.PathValue("path"), r.PathValue("name"))
	if err != nil {
		return err
	}
	defer ar.Close()
	info := ar.Info()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(api.HeaderETag, `"`+strconv.FormatInt(info.Created.UnixNano(), 36)+"-"+strconv.FormatInt(info.Size, 36)+`"`)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.StallTimeout))
	src := &failReader{ar: ar}
	out := &progressWriter{jsonErrors: &jsonErrors{statusWriter: w.(*statusWriter)}, rc: rc, stall: s.cfg.StallTimeout}
	http.ServeContent(out, r, "", info.Created, src)
	if src.err == nil {
		return nil
	}
	var ie *keyward.IntegrityError
	if errors.As(src.err, &ie) {
		s.reportIntegrity(r.Context(), w.Header().Get(HeaderRequestID), ie)
	} else {
		s.log.Warn("download failed midway", "request_id", w.Header().Get(HeaderRequestID), "err", src.err)
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) deleteAttachment(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	db, err := s.kw.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		return err
	}
	if err := db.DeleteAttachment(r.Context(), r.PathValue("path"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func toAPIAttachment(a keyward.Attachment) api.Attachment {
	return api.Attachment{Name: a.Name, Size: a.Size, KeyVersion: a.KeyVersion, Created: a.Created}
}

// progressReader moves the connection's read deadline forward while bytes
// arrive, and remembers the body's first error.
type progressReader struct {
	r     io.Reader
	rc    *http.ResponseController
	stall time.Duration
	err   error
}

func (p *progressReader) Read(b []byte) (int, error) {
	_ = p.rc.SetReadDeadline(time.Now().Add(p.stall))
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF && p.err == nil {
		p.err = err
	}
	return n, err
}

// progressWriter moves the connection's write deadline forward while bytes
// leave, and turns net/http's own error answers into JSON.
type progressWriter struct {
	*jsonErrors
	rc    *http.ResponseController
	stall time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.stall))
	return p.jsonErrors.Write(b)
}

// failReader is the attachment as http.ServeContent reads it; it remembers
// the first error other than EOF.
type failReader struct {
	ar  *keyward.AttachmentReader
	err error
}

func (f *failReader) Read(p []byte) (int, error) {
	n, err := f.ar.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}

func (f *failReader) Seek(off int64, whence int) (int64, error) { return f.ar.Seek(off, whence) }
