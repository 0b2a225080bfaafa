package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
)

// Sentinel errors; an *Error matches the one of its code with errors.Is.
// They mirror the root package's sentinels (keyward.ErrNotFound…) without
// importing it, so that a client does not pull in the storage engine.
var (
	ErrInvalid      = errors.New("client: invalid argument")       // 400 bad_request
	ErrUnauthorized = errors.New("client: unauthorized")           // 401 unauthorized
	ErrUnlockFailed = errors.New("client: unlock failed")          // 401 unlock_failed
	ErrForbidden    = errors.New("client: forbidden")              // 403 forbidden
	ErrNotFound     = errors.New("client: not found")              // 404 not_found
	ErrExists       = errors.New("client: already exists")         // 409 conflict
	ErrConflict     = errors.New("client: revision conflict")      // 412 precondition_failed
	ErrIntegrity    = errors.New("client: integrity check failed") // 500 integrity
	ErrSealed       = errors.New("client: server sealed")          // 503 sealed
	ErrMaintenance  = errors.New("client: server in maintenance")  // 503 maintenance
	ErrUnavailable  = errors.New("client: server unavailable")     // 503 unavailable
)

var codeSentinels = map[string]error{
	api.CodeBadRequest:         ErrInvalid,
	api.CodeUnauthorized:       ErrUnauthorized,
	api.CodeUnlockFailed:       ErrUnlockFailed,
	api.CodeForbidden:          ErrForbidden,
	api.CodeNotFound:           ErrNotFound,
	api.CodeConflict:           ErrExists,
	api.CodePreconditionFailed: ErrConflict,
	api.CodeIntegrity:          ErrIntegrity,
	api.CodeSealed:             ErrSealed,
	api.CodeMaintenance:        ErrMaintenance,
	api.CodeUnavailable:        ErrUnavailable,
}

// Error is an error response of the API.
type Error struct {
	Status  int    // HTTP status
	Code    string // api.Code*; "" when the response was not an API error
	Message string // the server's explanation, for people
	// EntryID names the entry whose ciphertext failed (api.CodeIntegrity).
	EntryID string
	// Slots says why each slot failed (api.CodeUnlockFailed, api.CodeSealed).
	Slots []api.SlotAttempt
	// RetryAfter is the server's Retry-After (maintenance, unavailable).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	// The server's messages may carry the library's "keyward: " prefix.
	msg := strings.TrimPrefix(e.Message, "keyward: ")
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("keyward server: %s (HTTP %d, not an API error: is this the keyward API?)", msg, e.Status)
	}
	return "keyward server: " + msg
}

// Is matches the sentinel of e's code, so errors.Is(err, ErrNotFound) works.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// parseError turns a non-2xx response into an *Error.
func parseError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" {
		var body api.ErrorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body); err == nil {
			e.Code, e.Message = body.Error.Code, body.Error.Message
			e.EntryID, e.Slots = body.Error.EntryID, body.Error.Slots
		}
	}
	return e
}

// TransportError is a request that got no HTTP answer: the server could
// not be reached, TLS failed, or the connection broke.
type TransportError struct {
	Method string
	URL    string // the server's base URL
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("keyward server %s: %s: %v", e.URL, e.Method, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }
