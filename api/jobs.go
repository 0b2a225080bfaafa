package api

import "time"

// Job is a long-running key operation (today: a regeneration), as GET
// /v1/keys/jobs/{id} returns it. It names databases and counts rows, never
// their content.
type Job struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	State     string        `json:"state"` // running, paused, cancelled, done or failed
	Databases []JobDatabase `json:"databases"`
	Offline   bool          `json:"offline"`
	Rate      float64       `json:"rate,omitempty"` // entries per second; 0: unlimited
	Progress  JobCounts     `json:"progress"`
	Error     string        `json:"error,omitempty"`
	Owner     string        `json:"owner,omitempty"` // the process that runs it
	Heartbeat time.Time     `json:"heartbeat,omitzero"`
	Created   time.Time     `json:"created"`
	Updated   time.Time     `json:"updated"`
}

// JobDatabase is a database a job re-encrypts onto Target.
type JobDatabase struct {
	Name   string   `json:"name"`
	Target uint32   `json:"target_version"`
	Old    []uint32 `json:"old_versions"` // the versions to empty and retire
}

// JobCounts is what a job has done.
type JobCounts struct {
	Total       int64 `json:"total"` // rows on old versions when the job started
	Entries     int64 `json:"entries"`
	Attachments int64 `json:"attachments"`
	// Skipped rows were changed by a client meanwhile (so are already on
	// the new version) or deleted.
	Skipped int64 `json:"skipped"`
	// Failed lists the ids of rows (entry ids, "attachment:" + attachment
	// id) that did not decrypt, at most 100; FailedCount counts them all.
	Failed      []string `json:"failed,omitempty"`
	FailedCount int64    `json:"failed_count"`
	Pass        int      `json:"pass"`
}

// JobList is the body of GET /v1/keys/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// RegenerateRequest is the body of POST /v1/keys/regenerate. The server
// writes no backup: the client exports the keys first.
type RegenerateRequest struct {
	Databases []string `json:"databases,omitempty"` // empty: every database
	Offline   bool     `json:"offline,omitempty"`
	Rate      float64  `json:"rate,omitempty"`
	DryRun    bool     `json:"dry_run,omitempty"`
}

// RegenerateCount is what a dry run reports for one database.
type RegenerateCount struct {
	Name        string   `json:"name"`
	Entries     int64    `json:"entries"`
	Attachments int64    `json:"attachments"`
	Versions    []uint32 `json:"versions"` // that would be retired
}

// DryRun is the answer of POST /v1/keys/regenerate with dry_run.
type DryRun struct {
	Databases []RegenerateCount `json:"databases"`
}
