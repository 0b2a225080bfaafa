package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/api"
)

// apiError is an error with its HTTP status and api code. Its message goes
// to the client, so it never holds a key, a token or a field value.
type apiError struct {
	status int
	body   api.Error
}

func (e *apiError) Error() string { return e.body.Code + ": " + e.body.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, body: api.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, api.CodeBadRequest, format, args...)
}

// writeJSON sends v with status. Every answer forbids caching: it may hold
// secrets.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // our own types: a bug
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized && e.body.Code == api.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	writeJSON(w, e.status, api.ErrorBody{Error: e.body})
}

// decodeJSON reads a JSON request body into v: application/json only
// (415), at most limit bytes (413), no unknown fields and nothing after the
// value (400). Messages name what is wrong without echoing the body.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia,
			"send the body as JSON with Content-Type: application/json")
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return badRequest("malformed JSON: the body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return badRequest("malformed JSON: field %q must be %s", te.Field, jsonKind(te.Type.String()))
	case errors.Is(err, io.EOF):
		return badRequest("empty body: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends too early")
	}
	// encoding/json: `json: unknown field "x"` names the client's own key.
	return badRequest("malformed JSON: %s", bytes.TrimPrefix([]byte(err.Error()), []byte("json: ")))
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int64", "uint32", "int":
		return "a whole number"
	case "[]string":
		return "a list of strings"
	case "map[string]string":
		return "an object of strings"
	}
	return "of another type"
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		"the body is larger than this server's limit of %d bytes", limit)
}

// statusWriter remembers the status and size of a response and the route
// it belongs to, for the request log and the metrics.
type statusWriter struct {
	http.ResponseWriter
	route   string
	code    int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setRoute names the logical route of a request (the metric label), when
// one mux pattern serves several routes.
func setRoute(w http.ResponseWriter, route string) {
	for {
		switch x := w.(type) {
		case *statusWriter:
			x.route = route
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// jsonErrors turns error answers written by net/http itself (the mux's 404
// and 405, http.ServeContent's 412 and 416) into api.ErrorBody. Headers
// such as Allow and Content-Range are kept.
type jsonErrors struct {
	*statusWriter
	swallow bool
}

func (w *jsonErrors) WriteHeader(code int) {
	if code < 400 {
		w.statusWriter.WriteHeader(code)
		return
	}
	w.swallow = true
	w.Header().Del("X-Content-Type-Options")
	writeError(w.statusWriter, errorf(code, codeOf(code), "%s", messageOf(code)))
}

func (w *jsonErrors) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	return w.statusWriter.Write(p)
}

func (w *jsonErrors) Unwrap() http.ResponseWriter { return w.statusWriter }

func codeOf(status int) string {
	switch status {
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusMethodNotAllowed:
		return api.CodeMethodNotAllowed
	case http.StatusPreconditionFailed:
		return api.CodePreconditionFailed
	case http.StatusRequestedRangeNotSatisfiable:
		return api.CodeRangeNotSatisfiable
	case http.StatusRequestEntityTooLarge:
		return api.CodeTooLarge
	}
	if status >= 500 {
		return api.CodeInternal
	}
	return api.CodeBadRequest
}

func messageOf(status int) string {
	switch status {
	case http.StatusNotFound:
		return "no such route; the routes are listed in api/openapi.yaml"
	case http.StatusMethodNotAllowed:
		return "this route does not take that method; see the Allow header"
	case http.StatusRequestedRangeNotSatisfiable:
		return "the Range lies outside the attachment; see Content-Range for its size"
	case http.StatusPreconditionFailed:
		return "a precondition (If-Match, If-Unmodified-Since) does not hold"
	}
	return http.StatusText(status)
}
