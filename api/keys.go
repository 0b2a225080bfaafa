package api

import "time"

// RotateRootRequest is the body of POST /v1/keys/rotate-root.
type RotateRootRequest struct {
	// DropUnavailableSlots removes the slots whose provider cannot wrap the
	// new root key, instead of failing (never the last slot).
	DropUnavailableSlots bool `json:"drop_unavailable_slots,omitempty"`
	// RecoveryKey, when given, lets the recovery slot wrap the new root
	// key. It is used for this request only and never stored or logged.
	RecoveryKey string `json:"recovery_key,omitempty"`
}

// RotateSummary is the answer of a root key rotation.
type RotateSummary struct {
	Databases int           `json:"databases"`
	DataKeys  int           `json:"data_keys"`
	Slots     []SlotAttempt `json:"slots"`             // re-wrapped
	Dropped   []SlotAttempt `json:"dropped,omitempty"` // removed, with why
	// RecoveryDropped is true when the recovery slot was removed: the
	// deployment has no recovery key any more.
	RecoveryDropped bool          `json:"recovery_dropped,omitempty"`
	Duration        time.Duration `json:"duration_ns"`
}

// VerifyRequest is the body of POST /v1/keys/verify.
type VerifyRequest struct {
	Databases []string `json:"databases,omitempty"` // empty: every database
	// MaxFailures caps the failures listed in the answer (default and
	// maximum 1000); the summary counts them all.
	MaxFailures int `json:"max_failures,omitempty"`
}

// Kinds of ciphertext that VerifyFailure names.
const (
	VerifyDataKey    = "data_key"
	VerifyEntry      = "entry"
	VerifyAttachment = "attachment"
)

// VerifyFailure is one ciphertext that did not open. It names the row,
// never its content.
type VerifyFailure struct {
	Kind       string `json:"kind"` // VerifyDataKey, VerifyEntry, VerifyAttachment
	Database   string `json:"database"`
	ID         string `json:"id,omitempty"`   // entry id (entries, attachments)
	Path       string `json:"path,omitempty"` // entry path
	Attachment string `json:"attachment,omitempty"`
	KeyVersion uint32 `json:"key_version"`
	Reason     string `json:"reason"`
}

// VerifySummary counts what a verification opened.
type VerifySummary struct {
	Databases   int   `json:"databases"`
	DataKeys    int64 `json:"data_keys"`
	Entries     int64 `json:"entries"`
	Attachments int64 `json:"attachments"`
	Chunks      int64 `json:"chunks"`
	Failures    int64 `json:"failures"`
}

// VerifyResponse is the answer of POST /v1/keys/verify.
type VerifyResponse struct {
	Summary   VerifySummary   `json:"summary"`
	Failures  []VerifyFailure `json:"failures"`
	Truncated bool            `json:"truncated,omitempty"` // more failures than listed
}

// AuditRecord is one audit log record. Hash and Prev are hex.
type AuditRecord struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Op     string    `json:"op"`
	Target string    `json:"target,omitempty"`
	Result string    `json:"result"`
	Prev   string    `json:"prev"`
	Hash   string    `json:"hash"`
}

// Query parameters of GET /v1/audit (besides QueryAfter and QueryLimit).
const QuerySince = "since" // RFC 3339 time: records at or after it

// AuditList is the answer of GET /v1/audit. Next is the seq to pass as
// `after` for the next page (0 when there is none).
type AuditList struct {
	Records []AuditRecord `json:"records"`
	Next    int64         `json:"next,omitempty"`
}

// AuditVerifyRequest is the body of POST /v1/audit/verify.
type AuditVerifyRequest struct {
	// Anchor is a head recorded earlier ("SEQ:HASH"): the log must still
	// hold that record with that hash.
	Anchor string `json:"anchor,omitempty"`
}

// AuditVerification is the answer of POST /v1/audit/verify.
type AuditVerification struct {
	OK       bool     `json:"ok"`
	Records  int64    `json:"records"`
	Head     string   `json:"head,omitempty"` // "SEQ:HASH" of the last record
	Problems []string `json:"problems,omitempty"`
}
