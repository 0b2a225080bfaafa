//go:build !unix

package serverlock

import (
	"errors"
	"fmt"
	"os"
)

func acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		e := held(path)
		e.Stale = true
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("serverlock: %w", err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release drops the lock by removing the file.
func (l *Lock) Release() error {
	err := l.f.Close()
	if rerr := os.Remove(l.path); err == nil {
		err = rerr
	}
	return err
}
