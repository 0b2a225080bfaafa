package sqlite

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward/store"
)

// Attachment files.
//
// The chunk ciphertext of each committed attachment is one file in the
// directory AttachmentsDir beside the database file, named after the
// attachment's id: chunk i starts at byte i*stride, where stride is the
// length of chunk 0 (every chunk but the last has that length, see
// writer.go). An upload in progress is the file <name>.part. The database
// row holds the metadata, including stride and the file's size, and is the
// only thing that makes an attachment visible: a file without a row is an
// orphan that the sweep removes (sweep.go); a row whose file is missing or
// has another size is reported as damaged (store.ErrCorrupt).

// AttachmentsDir is the name of the directory, beside the database file,
// that holds the attachment files.
const AttachmentsDir = "attachments"

// partSuffix marks an upload in progress.
const partSuffix = ".part"

// maxIDLen bounds attachment ids, so that every file name fits in the 255
// bytes that common file systems allow (an id that needs escaping takes
// 1+2*len bytes, plus the suffix).
const maxIDLen = 120

// fileName returns the file name of an attachment id: the id itself when it
// is made of ASCII letters, digits, '-' and '_' only (random ids are hex),
// else '~' followed by the id in hex. The two forms never collide, and
// neither contains a '.', so names ending in partSuffix are unambiguous.
func fileName(id string) (string, error) {
	if id == "" || len(id) > maxIDLen {
		return "", fmt.Errorf("attachment id of %d bytes, want 1 to %d", len(id), maxIDLen)
	}
	if plainID(id) {
		return id, nil
	}
	return "~" + hex.EncodeToString([]byte(id)), nil
}

// idOfName is the inverse of fileName. ok is false for a name that
// fileName never makes (such files are left alone).
func idOfName(name string) (id string, ok bool) {
	if rest, esc := strings.CutPrefix(name, "~"); esc {
		b, err := hex.DecodeString(rest)
		if err != nil || len(b) == 0 || len(b) > maxIDLen || plainID(string(b)) || hex.EncodeToString(b) != rest {
			return "", false
		}
		return string(b), true
	}
	if name == "" || len(name) > maxIDLen || !plainID(name) {
		return "", false
	}
	return name, true
}

func plainID(id string) bool {
	for i := range len(id) {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// filePath returns the path of the committed file of an attachment.
func (s *Store) filePath(id string) (string, error) {
	name, err := fileName(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, name), nil
}

// createDir makes the attachments directory (mode 0700) if it is missing.
func createDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, os.ErrExist) {
		fi, serr := os.Stat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory; move it away", dir)
		}
		return nil
	}
	return err
}

// syncDir makes the creations, renames and removals of names in dir
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// removeFiles unlinks the files of attachments whose rows are gone (deleted
// or replaced in a transaction that has committed). Failures are ignored:
// a file left behind is an orphan, removed by a later sweep.
func (s *Store) removeFiles(ids []string) {
	for _, id := range ids {
		if p, err := s.filePath(id); err == nil {
			_ = os.Remove(p)
		}
	}
}

// damaged reports a committed attachment whose file does not hold what its
// row records.
func damaged(id, format string, args ...any) error {
	return fmt.Errorf("attachment %s: %s: %w; restore the data directory (keyward.db, its WAL and %s/) from a backup, or delete the attachment",
		id, fmt.Sprintf(format, args...), store.ErrCorrupt, AttachmentsDir)
}
