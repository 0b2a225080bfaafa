// Package storetest is the conformance suite for [store.Store]. Every backend
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// # Points a backend can easily get wrong
//
//   - Times are returned in UTC and round-trip exactly, nanoseconds included
//     (PostgreSQL's timestamptz keeps microseconds only: store BIGINT unix
//     nanoseconds there). A zero Created given to Init, AddSlot,
//     CreateDatabase or AddDataKey means now.
//   - Tags keep their order; an empty list may read back as nil, and an empty
//     Ciphertext, Header or Blob as nil or empty.
//   - Paths sort bytewise (in PostgreSQL, COLLATE "C"); a prefix is matched
//     literally, never as a LIKE pattern. Empty paths, invalid UTF-8 and NUL
//     bytes are refused.
//   - KeyUsage has a row for every data key version of the database, with
//     zero counts when nothing uses it.
//   - A writer that failed to Commit can still be aborted.
//
// The suite runs its subtests one after the other, each on a store of its
// own, and closes each store when its subtest ends.
package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyward/keyward/store"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it at the end of the subtest, before any
// clean-up that open registered with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var tests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"InitMeta", testInitMeta},
	{"Slots", testSlots},
	{"Databases", testDatabases},
	{"DataKeys", testDataKeys},
	{"AllDataKeys", testAllDataKeys},
	{"ReserveEncryptions", testReserveEncryptions},
	{"ImportKeys", testImportKeys},
	{"ReplaceRootKey", testReplaceRootKey},
	{"PutEntry", testPutEntry},
	{"ListEntries", testListEntries},
	{"Paginate", testPaginate},
	{"DeleteEntry", testDeleteEntry},
	{"RoundTrip", testRoundTrip},
	{"InvalidPaths", testInvalidPaths},
	{"AttachmentCommit", testAttachmentCommit},
	{"AttachmentAbort", testAttachmentAbort},
	{"AttachmentReplace", testAttachmentReplace},
	{"AttachmentMissingChunk", testAttachmentMissingChunk},
	{"AttachmentEntryDeleted", testAttachmentEntryDeleted},
	{"DeleteAttachment", testDeleteAttachment},
	{"AttachmentBatches", testAttachmentBatches},
	{"ChunkStream", testChunkStream},
	{"ConcurrentReplace", testConcurrentReplace},
	{"KeyUsage", testKeyUsage},
	{"ConcurrentCAS", testConcurrentCAS},
	{"ParallelWriters", testParallelWriters},
	{"Tokens", testTokens},
	{"Maintenance", testMaintenance},
	{"AuditAppend", testAuditAppend},
	{"AuditConcurrent", testAuditConcurrent},
	{"AuditRefused", testAuditRefused},
	{"RewrapAll", testRewrapAll},
	{"RewrapConflict", testRewrapConflict},
	{"Jobs", testJobs},
	{"JobLease", testJobLease},
	{"RewriteEntries", testRewriteEntries},
	{"AttachmentRewrite", testAttachmentRewrite},
	{"KeyStates", testKeyStates},
	{"RootCheck", testRootCheck},
	{"RootCheckUnrecorded", testRootCheckUnrecorded},
}

// t0 has nanoseconds and a zone other than UTC, to catch truncation and
// zone handling.
var t0 = time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("IST", 5*3600+1800))

// opts compare times with Equal (cmp does so by itself) and treat nil and
// empty slices alike.
var opts = cmp.Options{cmpopts.EquateEmpty()}

// diff fails the test if got and want differ.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// checkUTC fails the test unless every time is non-zero and in UTC.
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm.IsZero() || tm.Location() != time.UTC {
			t.Errorf("%s: time %v, want a non-zero time in UTC", what, tm)
		}
	}
}

// checkRecent fails the test unless tm is within an hour of now (stores may
// take the time from a database server).
func checkRecent(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if d := time.Since(tm).Abs(); d > time.Hour {
		t.Errorf("%s = %v, want about now", what, tm)
	}
}

func dataKey(dbID string, v uint32, st store.KeyState) store.DataKey {
	return store.DataKey{
		DatabaseID: dbID, Version: v, State: st,
		Wrapped: fmt.Appendf(nil, "wrapped:%s:%d", dbID, v),
		Created: t0.Add(time.Duration(v) * time.Hour),
	}
}

// newDB creates a database with data key 1 as primary.
func newDB(t *testing.T, s store.Store, name string) store.Database {
	t.Helper()
	db := store.Database{ID: "id-" + name, Name: name, Created: t0}
	if err := s.CreateDatabase(t.Context(), db, dataKey(db.ID, 1, store.KeyPrimary)); err != nil {
		t.Fatalf("CreateDatabase(%q) = %v", name, err)
	}
	return db
}

func newEntry(db store.Database, path string) store.Entry {
	return store.Entry{
		ID: "id:" + db.ID + ":" + path, DatabaseID: db.ID, Path: path,
		Type: "login", Tags: []string{"team-a"}, KeyVersion: 1,
		Ciphertext: []byte("ciphertext of " + path),
	}
}

// put calls PutEntry and fails the test on error.
func put(t *testing.T, s store.Store, e store.Entry, expect int64) store.Entry {
	t.Helper()
	got, err := s.PutEntry(t.Context(), e, expect)
	if err != nil {
		t.Fatalf("PutEntry(%q, %d) = %v", e.Path, expect, err)
	}
	return got
}

// chunks makes n distinct chunks of size bytes.
func chunks(tag string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat(fmt.Appendf(nil, "%s%d.", tag, i), size)[:size]
	}
	return out
}

// upload stores a committed attachment made of cs.
func upload(t *testing.T, s store.Store, a store.Attachment, cs [][]byte) store.Attachment {
	t.Helper()
	ctx := t.Context()
	w, err := s.BeginAttachment(ctx, a)
	if err != nil {
		t.Fatalf("BeginAttachment(%q) = %v", a.Name, err)
	}
	for i, c := range cs {
		if err := w.WriteChunk(ctx, int64(i), c); err != nil {
			t.Fatalf("WriteChunk(%d) = %v", i, err)
		}
		a.Size += int64(len(c))
	}
	a.Chunks = int64(len(cs))
	got, err := w.Commit(ctx, a)
	if err != nil {
		t.Fatalf("Commit(%q) = %v", a.Name, err)
	}
	return got
}

// sameChunks fails the test if got and want differ (cmp is too slow on
// megabytes).
func sameChunks(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d chunks, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: chunk %d differs (%d bytes, want %d)", what, i, len(got[i]), len(want[i]))
		}
	}
}

// readChunks reads every chunk of a committed attachment.
func readChunks(t *testing.T, s store.Store, a store.Attachment) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range a.Chunks {
		c, err := s.AttachmentChunk(t.Context(), a.ID, i)
		if err != nil {
			t.Fatalf("AttachmentChunk(%q, %d) = %v", a.ID, i, err)
		}
		out = append(out, c)
	}
	return out
}
