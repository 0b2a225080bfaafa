// Package audit defines keyward's audit log: an append-only list of
// records, each naming when an operation ran, who ran it, on what, and how
// it ended, chained to the previous record by a SHA-256 hash.
//
// # Records
//
// A Record holds only non-secret words: a time, an actor ("token:ID" for an
// API request, "local:USER" for the CLI on a data directory), an operation
// ("slot.add", "keys.rotate-root", …), a target (a slot id, a token id, a
// database name) and a result ("ok" or an error code such as "sealed").
// Keys, passphrases, token secrets and plaintext never go into a record.
//
// # The chain
//
// Record n stores Prev = Hash(record n-1) (32 zero bytes for record 1) and
// Hash = SHA-256 over a canonical, length-prefixed encoding of its own
// fields and Prev (see Hash). The store also keeps a Head (the last seq and
// hash), updated in the transaction that appends, so deleting the newest
// records without also rewriting the head is detected.
//
// What the chain proves, and what it cannot: an edited, inserted, deleted
// or reordered record, a deleted tail, or a head that no longer matches the
// records is found by Verifier. The hash is not keyed, so someone who can
// write the database file can rewrite every record after a point and the
// head consistently, and nothing local can tell. Against that, copy the
// head (`keyward audit verify` prints it) to a place that attacker cannot
// write, and check later that the chain still holds it (Verifier.Anchor).
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// HashSize is the length of a record hash.
const HashSize = sha256.Size

// Result of an operation that succeeded.
const ResultOK = "ok"

// Record is one audit log entry.
type Record struct {
	Seq    int64     // 1, 2, 3, … with no gaps; set by the store
	Time   time.Time // when the operation ended (UTC, nanoseconds)
	Actor  string    // who: "token:ID", "local:USER", …
	Op     string    // what: "slot.add", "keys.verify", …
	Target string    // on what: slot id, token id, database names, or empty
	Result string    // ResultOK or an error code; never an error message with data
	Prev   []byte    // Hash of record Seq-1; zeros for Seq 1
	Hash   []byte    // Hash(this record)
}

// Head is the last record's sequence number and hash, as the store keeps
// it beside the records. The zero Head means an empty log.
type Head struct {
	Seq  int64
	Hash []byte
}

// Genesis is the Prev of the first record.
func Genesis() []byte { return make([]byte, HashSize) }

// Hash returns the chain hash of r: SHA-256 of a domain tag, r.Seq,
// r.Time (unix nanoseconds), Actor, Op, Target and Result (each
// length-prefixed), and r.Prev. r.Hash is ignored.
func Hash(r Record) []byte {
	var b bytes.Buffer
	b.WriteString("keyward/audit/v1\x00")
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	b.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.Time.UnixNano()))
	b.Write(n[:])
	for _, s := range []string{r.Actor, r.Op, r.Target, r.Result} {
		binary.BigEndian.PutUint32(n[:4], uint32(len(s)))
		b.Write(n[:4])
		b.WriteString(s)
	}
	binary.BigEndian.PutUint32(n[:4], uint32(len(r.Prev)))
	b.Write(n[:4])
	b.Write(r.Prev)
	sum := sha256.Sum256(b.Bytes())
	return sum[:]
}

// Chain fills in r.Seq, r.Prev and r.Hash so that r follows head. Stores
// call it inside the transaction that appends r, after reading the head.
func Chain(r Record, head Head) Record {
	r.Seq = head.Seq + 1
	r.Prev = head.Hash
	if head.Seq == 0 {
		r.Prev = Genesis()
	}
	r.Time = r.Time.UTC()
	r.Hash = Hash(r)
	return r
}

// Check refuses a record that must not be appended: empty actor, operation
// or result, or a field longer than 1 KiB or holding control characters.
func Check(r Record) error {
	for _, f := range []struct{ name, v string }{{"actor", r.Actor}, {"op", r.Op}, {"target", r.Target}, {"result", r.Result}} {
		if f.v == "" && f.name != "target" {
			return fmt.Errorf("audit: empty %s", f.name)
		}
		if len(f.v) > 1024 {
			return fmt.Errorf("audit: %s longer than 1024 bytes", f.name)
		}
		for _, c := range f.v {
			if c < 0x20 || c == 0x7f {
				return fmt.Errorf("audit: control character in %s", f.name)
			}
		}
	}
	return nil
}

// ErrBroken is matched by every problem Verifier reports.
var ErrBroken = errors.New("audit: the audit chain is broken")
