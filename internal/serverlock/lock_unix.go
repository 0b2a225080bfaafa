//go:build unix

package serverlock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("serverlock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, held(path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("serverlock: lock %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release drops the lock. The file stays.
func (l *Lock) Release() error {
	_ = l.f.Truncate(0)
	return l.f.Close() // closing the last descriptor drops the flock
}
