package api

import "time"

// KeyExportRequest is the body of POST /v1/keys/export (admin token). The
// answer is the export itself: an ASCII-armored age file (see
// docs/formats.md) encrypted to the recipients, with how many databases
// and key versions it holds in the HeaderExportDatabases and
// HeaderExportKeys headers. Passphrase exports are made by the CLI on the
// data directory, never by the server.
type KeyExportRequest struct {
	// Databases names the databases to export; empty: every database.
	Databases []string `json:"databases,omitempty"`
	// Recipients are age public keys ("age1…"), at least one and at most
	// MaxExportRecipients.
	Recipients []string `json:"recipients"`
}

// Headers of the answer to POST /v1/keys/export.
const (
	HeaderExportDatabases = "Keyward-Export-Databases"
	HeaderExportKeys      = "Keyward-Export-Keys"
)

// MaxExportRecipients bounds the recipients of one export.
const MaxExportRecipients = 64

// MaxKeyImportBytes bounds the body of POST /v1/keys/import (about 80,000
// key versions).
const MaxKeyImportBytes = 32 << 20

// KeyImportRequest is the body of POST /v1/keys/import (admin token): an
// export and what opens it, exactly one of Identity and Passphrase. The
// server uses them for this request only and logs neither. The CLI sends
// neither the operator's identity nor the passphrase: it opens the export
// itself and sends it re-encrypted to a one-time X25519 key, with that key
// as Identity.
type KeyImportRequest struct {
	// Bundle is the export as an ASCII-armored age file ("-----BEGIN AGE
	// ENCRYPTED FILE-----"); a binary one is armored with `age --armor`
	// or by the client.
	Bundle string `json:"bundle"`
	// Identity is the content of an age identity file (AGE-SECRET-KEY-1…
	// lines).
	Identity string `json:"identity,omitempty"`
	// Passphrase opens a passphrase export.
	Passphrase string `json:"passphrase,omitempty"`
	// Overwrite replaces the stored key of a version that holds a
	// different key in the export (the rows encrypted under the stored key
	// no longer open then). Without it such an import is refused (409).
	Overwrite bool `json:"overwrite,omitempty"`
	// DryRun computes the report and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// KeyImportReport is the answer to POST /v1/keys/import: what the import
// did, or with DryRun would do. A dry run that finds conflicts answers 200
// with them (Action KeyConflict); a real import with conflicts and without
// Overwrite answers 409 and changes nothing.
type KeyImportReport struct {
	DeploymentID string              `json:"deployment_id"`
	Exported     time.Time           `json:"exported"` // when the export was made
	DryRun       bool                `json:"dry_run"`
	Databases    []KeyImportDatabase `json:"databases"`
}

// KeyImportDatabase is one database of an import, matched by id.
type KeyImportDatabase struct {
	Name string `json:"name"` // its name here (for a created database, the export's)
	ID   string `json:"id"`
	// Create is true when the database did not exist and is created with
	// the export's id and name.
	Create bool `json:"create,omitempty"`
	// ExportedName is the export's name for it when that differs from the
	// name here (the id decides; the name is kept).
	ExportedName string         `json:"exported_name,omitempty"`
	Keys         []KeyImportKey `json:"keys"`
}

// KeyImportKey is one key version of an import.
type KeyImportKey struct {
	Version uint32 `json:"version"`
	// Action is KeyAdd, KeySame, KeyReplace or KeyConflict.
	Action string `json:"action"`
	// State is the version's state here after the import (for KeySame,
	// KeyReplace and KeyConflict: the stored state, which an import never
	// changes); ExportedState is its state in the export.
	State         string `json:"state"`
	ExportedState string `json:"exported_state"`
	// CheckValue identifies the export's key (docs/formats.md).
	CheckValue string `json:"check_value"`
	// For KeyReplace and KeyConflict: how many rows are stored under the
	// version (only one of the two keys opens them), and which key opened
	// a sample of them: SampleStored, SampleExported or SampleNeither
	// (empty when no row uses the version).
	Entries     int64  `json:"entries,omitempty"`
	Attachments int64  `json:"attachments,omitempty"`
	SampleOpens string `json:"sample_opens,omitempty"`
}

// Actions of a KeyImportKey.
const (
	KeyAdd      = "add"      // the version is added
	KeySame     = "same"     // the store holds the same key: nothing to do
	KeyReplace  = "replace"  // the stored key differs and is replaced (Overwrite)
	KeyConflict = "conflict" // the stored key differs: refused without Overwrite
)

// Values of KeyImportKey.SampleOpens.
const (
	SampleStored   = "stored"
	SampleExported = "exported"
	SampleNeither  = "neither"
)

// Count returns how many key versions of the report have the action.
func (r KeyImportReport) Count(action string) int {
	n := 0
	for _, db := range r.Databases {
		for _, k := range db.Keys {
			if k.Action == action {
				n++
			}
		}
	}
	return n
}
