package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward/store"
)

// nanos converts t to the stored form: UTC unix nanoseconds. The zero
// time.Time cannot be represented and is never stored (callers replace it).
func nanos(t time.Time) int64 { return t.UnixNano() }

// fromNanos converts a stored time back, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// stamp returns t as it reads back after being stored.
func stamp(t time.Time) time.Time { return fromNanos(nanos(t)) }

// Unix nanoseconds in an int64 cover the years 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// creationTime returns a caller-given creation time as it will be stored: now
// if t is zero, an error if it cannot be stored exactly.
func creationTime(t, now time.Time) (time.Time, error) {
	if t.IsZero() {
		t = now
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("time %v out of range", t)
	}
	return stamp(t), nil
}

// Extended result codes of constraint violations.
const (
	codeUnique     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	codePrimaryKey = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	codeForeignKey = sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
)

// isConstraint reports whether err is a constraint violation with one of
// the given extended result codes.
func isConstraint(err error, codes ...int) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code() == c {
			return true
		}
	}
	return false
}

// isDuplicate reports a UNIQUE or PRIMARY KEY violation.
func isDuplicate(err error) bool { return isConstraint(err, codeUnique, codePrimaryKey) }

// checkName rejects names that every backend could not store the same way:
// empty strings, invalid UTF-8 and NUL bytes (PostgreSQL text refuses both).
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte", what)
	}
	return nil
}

var stateNames = map[store.KeyState]string{
	store.KeyPrimary: "primary",
	store.KeyActive:  "active",
	store.KeyRetired: "retired",
}

func stateText(s store.KeyState) (string, error) {
	if t, ok := stateNames[s]; ok {
		return t, nil
	}
	return "", fmt.Errorf("invalid key state %d", int(s))
}

func parseState(t string) (store.KeyState, error) {
	for s, name := range stateNames {
		if name == t {
			return s, nil
		}
	}
	return 0, fmt.Errorf("invalid key state %q in the database", t)
}

// encodeTags stores tags as a JSON array; nil and empty both become "[]".
func encodeTags(tags []string) (string, error) {
	for _, t := range tags {
		if !utf8.ValidString(t) || strings.IndexByte(t, 0) >= 0 {
			return "", errors.New("a tag is not valid UTF-8 or contains a NUL byte")
		}
	}
	if len(tags) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(tags)
	return string(b), err
}

// decodeTags reads a JSON array back; an empty array becomes nil.
func decodeTags(s string) ([]string, error) {
	var tags []string
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("stored tags: %w", err)
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// nonNil returns b, or an empty slice for nil: NOT NULL BLOB columns take
// an empty value, never NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, and false if there is none (prefix empty or all 0xff).
// Paths compare bytewise (SQLite's BINARY collation), so
// prefix <= path < prefixEnd selects the paths starting with prefix.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
