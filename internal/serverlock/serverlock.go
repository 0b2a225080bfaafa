// Package serverlock keeps a keyward server and the offline key commands
// (keys get, keys put, keys import --overwrite and --rekey) off the same
// data directory at the same time. Entry commands need no lock: SQLite
// serialises their writes, and they never change keys.
//
// The lock is the file keyward.serve.lock in the data directory. `keyward
// serve` holds it for its lifetime; the key commands hold it while they
// run. Both take it without waiting: a second holder is refused with a
// *HeldError that names the process holding it.
//
// On Unix the lock is flock(2) on the file, exclusive and non-blocking: the
// kernel drops it when the holder exits, even by a crash, so a stale file
// never blocks anyone. flock belongs to an open file description: a second
// Acquire in the same process is refused too. The file stays after Release
// (removing it would let two processes lock two different files).
//
// Elsewhere (Windows) the lock is the file's existence, created with
// O_EXCL and removed by Release. A process that crashed leaves it behind;
// the error says to remove it once no keyward process runs.
package serverlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file's name in the data directory.
const FileName = "keyward.serve.lock"

// Holder names the server in the lock file; the key commands name
// themselves ("keys put").
const Holder = "serve"

// ErrHeld is matched by every *HeldError.
var ErrHeld = errors.New("serverlock: another keyward process holds the data directory")

// HeldError says who holds the lock.
type HeldError struct {
	Path   string
	PID    int    // 0 when the file does not say
	Holder string // what it is doing: Holder for a server, else a command
	// Stale is set where the lock is a file's existence (not Unix): it
	// may be left over from a crash.
	Stale bool
}

func (e *HeldError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	var msg string
	switch e.Holder {
	case Holder:
		msg = fmt.Sprintf("a keyward server is running on this data directory (%s): stop it, or use the API (--server)", pid)
	case "":
		msg = fmt.Sprintf("another keyward process holds this data directory (%s): wait for it to finish", pid)
	default:
		msg = fmt.Sprintf("another keyward command (keyward %s, %s) is working on this data directory's keys: wait for it to finish", e.Holder, pid)
	}
	if e.Stale {
		msg += fmt.Sprintf("; if no keyward process runs, a crash left %s behind: remove it", e.Path)
	}
	return msg
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lock is a held lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock of the data directory dir without waiting, and
// records this process's id and holder (Holder, or a command such as "keys
// put") in it. A *HeldError if another holds it. dir must exist.
func Acquire(dir, holder string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	l, err := acquire(path)
	if err != nil {
		return nil, err
	}
	if err := l.record(holder); err != nil {
		l.Release()
		return nil, fmt.Errorf("serverlock: %w", err)
	}
	return l, nil
}

// record writes "PID HOLDER\n" into the lock file.
func (l *Lock) record(holder string) error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+holder+"\n"), 0)
	return err
}

// held reads who holds the lock at path.
func held(path string) *HeldError {
	e := &HeldError{Path: path}
	b, err := os.ReadFile(path)
	if err != nil {
		return e
	}
	pid, holder, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	e.PID, _ = strconv.Atoi(pid)
	e.Holder = holder
	return e
}
