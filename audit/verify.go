package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Verifier checks a log record by record in ascending order, in constant
// memory: feed it every record with Next, then call Finish with the store's
// head. It collects problems instead of stopping at the first.
type Verifier struct {
	// Anchor, when set, is a head recorded earlier (for example printed by
	// `keyward audit verify` and kept elsewhere): the chain must still hold
	// a record with that seq and hash.
	Anchor *Head

	n        int64
	last     Head
	problems []string
	anchored bool
}

// maxProblems bounds what a Verifier keeps; the count goes on.
const maxProblems = 100

// Problems returns what is wrong, at most 100 descriptions.
func (v *Verifier) Problems() []string { return v.problems }

// Records returns how many records were checked.
func (v *Verifier) Records() int64 { return v.n }

// Last returns the last record checked, as a Head.
func (v *Verifier) Last() Head { return v.last }

func (v *Verifier) problem(format string, args ...any) {
	if len(v.problems) < maxProblems {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// Next checks r against the record before it.
func (v *Verifier) Next(r Record) {
	v.n++
	wantSeq := v.last.Seq + 1
	wantPrev := v.last.Hash
	if v.last.Seq == 0 {
		wantPrev = Genesis()
	}
	switch {
	case r.Seq < wantSeq:
		v.problem("record %d: out of order (after record %d)", r.Seq, v.last.Seq)
	case r.Seq > wantSeq:
		v.problem("records %d to %d are missing (deleted)", wantSeq, r.Seq-1)
	}
	if !bytes.Equal(r.Prev, wantPrev) {
		v.problem("record %d: does not follow record %d (its previous hash differs: a record before it was changed, removed or inserted)", r.Seq, v.last.Seq)
	}
	if !bytes.Equal(Hash(r), r.Hash) {
		v.problem("record %d: its fields do not match its hash (edited)", r.Seq)
	}
	if a := v.Anchor; a != nil && r.Seq == a.Seq {
		v.anchored = true
		if !bytes.Equal(r.Hash, a.Hash) {
			v.problem("record %d: differs from the anchor %s recorded earlier (the chain was rewritten from there or before)", r.Seq, FormatHead(*a))
		}
	}
	v.last = Head{Seq: r.Seq, Hash: r.Hash}
}

// Finish compares the last record with the store's head and returns nil
// if the chain holds, else an error (matching ErrBroken) listing the
// problems.
func (v *Verifier) Finish(head Head) error {
	switch {
	case head.Seq > v.last.Seq:
		v.problem("the head names record %d but the last record is %d: the newest records were deleted", head.Seq, v.last.Seq)
	case head.Seq < v.last.Seq:
		v.problem("the head names record %d but records go up to %d: records were appended behind keyward's back, or the head was reset", head.Seq, v.last.Seq)
	case head.Seq > 0 && !bytes.Equal(head.Hash, v.last.Hash):
		v.problem("record %d: its hash differs from the head's (the last record was replaced)", head.Seq)
	}
	if a := v.Anchor; a != nil && !v.anchored {
		v.problem("the anchor %s names a record the log no longer has", FormatHead(*a))
	}
	if len(v.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d problem(s), first: %s", ErrBroken, len(v.problems), v.problems[0])
}

// FormatHead writes a head as "SEQ:HEX".
func FormatHead(h Head) string { return fmt.Sprintf("%d:%s", h.Seq, hex.EncodeToString(h.Hash)) }

// ParseHead reads what FormatHead writes, with space around it allowed
// and the hash in either case; nothing else.
func ParseHead(s string) (Head, error) {
	seqText, hx, _ := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq <= 0 || strings.Trim(seqText, "0123456789") != "" {
		return Head{}, fmt.Errorf("audit: anchor %q: want SEQ:HASH as printed by `keyward audit verify`", s)
	}
	h, err := hex.DecodeString(hx)
	if err != nil || len(h) != HashSize {
		return Head{}, fmt.Errorf("audit: anchor %q: the hash must be %d hex digits", s, 2*HashSize)
	}
	return Head{Seq: seq, Hash: h}, nil
}
