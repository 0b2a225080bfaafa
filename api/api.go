// Package api defines the wire types of keyward's HTTP API under /v1: the
// JSON bodies the server sends and accepts, the error codes, and the header
// and query names. The server (package server) and the Go client (package
// client) share them, so the two cannot drift apart; openapi.yaml beside
// this file documents the routes, and a server test checks it against the
// routes the server really has.
//
// Domain words: a deployment holds databases; a database holds entries
// (a path, plaintext metadata and encrypted fields) and each entry may have
// attachments (encrypted files). Tokens authenticate API callers; a token has
// a role (admin, writer, reader) and may be limited to named databases. The
// server is sealed while no key slot has unlocked the root key, and in
// maintenance while an operator has switched data requests off.
package api

import "time"

// Prefix is the path prefix of every versioned route.
const Prefix = "/v1"

// Headers and query parameters.
const (
	// HeaderIfMatch carries the revision an update expects (compare and
	// swap): `If-Match: 7` or `If-Match: "7"`. A stale revision gets 412.
	HeaderIfMatch = "If-Match"
	// HeaderETag on entry responses carries the entry's revision, quoted.
	HeaderETag = "ETag"
	// HeaderRevision on entry and attachment responses carries the entry's
	// revision, unquoted.
	HeaderRevision = "Keyward-Revision"
	// QueryPrefix, QueryAfter and QueryLimit page through entry lists.
	QueryPrefix = "prefix"
	QueryAfter  = "after"
	QueryLimit  = "limit"
)

// Page sizes of entry lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Roles of a token.
const (
	RoleAdmin  = "admin"  // everything, including tokens, unlock, maintenance and key operations
	RoleWriter = "writer" // read and write entries and attachments, create databases
	RoleReader = "reader" // read entries and attachments
)

// Error codes. Each error response has one; the HTTP status goes with it.
const (
	CodeBadRequest          = "bad_request"           // 400: malformed JSON, invalid name or path, bad header
	CodeUnauthorized        = "unauthorized"          // 401: no token, unknown, revoked or expired token
	CodeForbidden           = "forbidden"             // 403: the token's role or databases do not allow it
	CodeNotFound            = "not_found"             // 404: no such database, entry, attachment, token or route
	CodeMethodNotAllowed    = "method_not_allowed"    // 405
	CodeConflict            = "conflict"              // 409: the name or path exists already
	CodePreconditionFailed  = "precondition_failed"   // 412: If-Match names a stale revision
	CodeTooLarge            = "too_large"             // 413: the body exceeds the server's limit
	CodeUnsupportedMedia    = "unsupported_media"     // 415: a JSON body without application/json
	CodeRangeNotSatisfiable = "range_not_satisfiable" // 416
	CodeUnlockFailed        = "unlock_failed"         // 401 on /v1/sys/unlock: no slot opened with what was given
	CodeIntegrity           = "integrity"             // 500: a stored ciphertext failed to authenticate (names the entry id)
	CodeInternal            = "internal"              // 500: anything else; details only in the server log
	CodeSealed              = "sealed"                // 503: no slot has unlocked the keys yet
	CodeMaintenance         = "maintenance"           // 503 with Retry-After: an operator switched data requests off
	CodeUnavailable         = "unavailable"           // 503: shutting down, or the store is unreachable
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error describes what went wrong. Message is for people and never holds a
// key, a token or a field value.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// EntryID names the entry whose ciphertext failed (CodeIntegrity).
	EntryID string `json:"entry_id,omitempty"`
	// Slots says why each slot failed (CodeUnlockFailed, CodeSealed).
	Slots []SlotAttempt `json:"slots,omitempty"`
}

// SlotAttempt is one slot's result in an unlock attempt.
type SlotAttempt struct {
	ID    int64  `json:"id"`
	Spec  string `json:"spec"`
	Error string `json:"error,omitempty"`
}

// Health is the body of GET /v1/sys/health: 200 when Status is "ok", 503
// otherwise.
type Health struct {
	Status      string `json:"status"` // "ok", "sealed" or "maintenance"
	Sealed      bool   `json:"sealed"`
	Maintenance bool   `json:"maintenance"`
	Reason      string `json:"reason,omitempty"` // the maintenance reason
}

// Maintenance is the maintenance switch. It lives in the store, so it holds
// for every server sharing it and survives restarts.
type Maintenance struct {
	Enabled bool      `json:"enabled"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// MaintenanceRequest is the body of POST /v1/sys/maintenance.
type MaintenanceRequest struct {
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason,omitempty"`
}

// UnlockRequest is the body of POST /v1/sys/unlock: exactly one of the two.
// Passphrase is tried on the env: (passphrase) slots, RecoveryKey on the
// recovery slot.
type UnlockRequest struct {
	Passphrase  string `json:"passphrase,omitempty"`
	RecoveryKey string `json:"recovery_key,omitempty"`
}

// UnlockResponse is the answer to a successful unlock (or to an unlock of a
// server that was not sealed: Already is then true).
type UnlockResponse struct {
	Sealed  bool          `json:"sealed"`
	Already bool          `json:"already,omitempty"`
	Slot    *SlotAttempt  `json:"slot,omitempty"`
	Slots   []SlotAttempt `json:"slots,omitempty"`
}

// Database is an item of GET /v1/db and the answer to POST /v1/db.
type Database struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// DatabaseList is the body of GET /v1/db.
type DatabaseList struct {
	Databases []Database `json:"databases"`
}

// CreateDatabase is the body of POST /v1/db.
type CreateDatabase struct {
	Name string `json:"name"`
}

// Entry is the body of GET and the answer to PUT
// /v1/db/{db}/entries/{path...}. Fields is absent in lists.
type Entry struct {
	Path       string            `json:"path"`
	Type       string            `json:"type,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Revision   int64             `json:"revision"`
	KeyVersion uint32            `json:"key_version"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
}

// PutEntry is the body of PUT /v1/db/{db}/entries/{path...}. Revision, like
// If-Match, asks for compare and swap: 0 (or absent) with no If-Match
// creates or replaces whatever is there; N > 0 succeeds only if the stored
// revision is N (412 otherwise). When both are given they must agree.
// Create asks for a new entry only: 409 conflict if the path is taken; it
// excludes a revision (400).
type PutEntry struct {
	Fields   map[string]string `json:"fields"`
	Type     string            `json:"type,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Revision int64             `json:"revision,omitempty"`
	Create   bool              `json:"create,omitempty"`
}

// EntryList is the body of GET /v1/db/{db}/entries: metadata only, ordered
// by path. Next, when set, is the `after` value of the next page.
type EntryList struct {
	Entries []Entry `json:"entries"`
	Next    string  `json:"next,omitempty"`
}

// Attachment describes an attachment (GET .../attachments lists them; PUT
// .../attachments/{name} answers with one).
type Attachment struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	KeyVersion uint32    `json:"key_version"`
	Created    time.Time `json:"created"`
}

// AttachmentList is the body of GET /v1/db/{db}/entries/{path...}/attachments.
type AttachmentList struct {
	Attachments []Attachment `json:"attachments"`
}

// CreateToken is the body of POST /v1/tokens. Databases limits the token to
// those databases (empty: all). TTL is a Go duration ("720h"); empty means
// the token does not expire.
type CreateToken struct {
	Name      string   `json:"name,omitempty"`
	Role      string   `json:"role"`
	Databases []string `json:"databases,omitempty"`
	TTL       string   `json:"ttl,omitempty"`
}

// Token describes a token; the secret is never part of it.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role"`
	Databases []string  `json:"databases,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
}

// TokenCreated answers POST /v1/tokens. Secret is shown this once; the
// server keeps only its hash.
type TokenCreated struct {
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}

// TokenList is the body of GET /v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// Slot describes one way to unlock the root key.
type Slot struct {
	ID       int64     `json:"id"`
	Priority int       `json:"priority"`
	Spec     string    `json:"spec"`
	Created  time.Time `json:"created"`
	// Unlocked is true for the slot that unlocked this process.
	Unlocked bool `json:"unlocked"`
	// Error is why this slot failed in the last unlock attempt, if it was
	// tried and failed.
	Error string `json:"error,omitempty"`
	// Replaced is set by AddSlot when the new slot replaced a broken slot
	// with the same spec.
	Replaced int64 `json:"replaced,omitempty"`
}

// DeploymentStatus is what GET /v1/sys/status adds for an admin token
// (`keyward status --json` prints the whole Status, in both modes).
type DeploymentStatus struct {
	Store         string           `json:"store"`
	DeploymentID  string           `json:"deployment_id"`
	SchemaVersion int              `json:"schema_version"`
	Sealed        bool             `json:"sealed"`
	UnlockedBy    *Slot            `json:"unlocked_by,omitempty"`
	Slots         []Slot           `json:"slots"`
	Databases     []DatabaseStatus `json:"databases"`
	// MemoryLocked is false when some key had to live in memory the
	// process could not lock (raise RLIMIT_MEMLOCK).
	MemoryLocked bool `json:"memory_locked"`
}

// DatabaseStatus lists a database's key versions and what uses them.
type DatabaseStatus struct {
	Name        string      `json:"name"`
	Created     time.Time   `json:"created"`
	Entries     int64       `json:"entries"`
	Attachments int64       `json:"attachments"`
	Keys        []KeyStatus `json:"keys"`
}

// KeyStatus is one data key version.
type KeyStatus struct {
	Version     uint32    `json:"version"`
	State       string    `json:"state"`
	Created     time.Time `json:"created"`
	Encryptions uint64    `json:"encryptions"`
	Entries     int64     `json:"entries"`
	Attachments int64     `json:"attachments"`
}

// Status is the body of GET /v1/sys/status. Deployment and Integrity are
// present only for an admin token.
type Status struct {
	Version     string            `json:"version"`
	Sealed      bool              `json:"sealed"`
	Maintenance Maintenance       `json:"maintenance"`
	Deployment  *DeploymentStatus `json:"deployment,omitempty"`
	// Integrity lists the records that failed to decrypt since this server
	// started, most recent last (admin token only).
	Integrity []IntegrityFailure `json:"integrity,omitempty"`
}

// IntegrityFailure is a record whose ciphertext failed to authenticate
// while this server read it. It names the row, never its content.
type IntegrityFailure struct {
	Database   string    `json:"database"`
	Path       string    `json:"path"`
	EntryID    string    `json:"entry_id"`
	Attachment string    `json:"attachment,omitempty"`
	KeyVersion uint32    `json:"key_version"`
	Count      int64     `json:"count"` // failed reads of it
	Last       time.Time `json:"last"`
}
