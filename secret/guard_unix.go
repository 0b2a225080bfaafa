//go:build unix

package secret

import (
	"math"

	"github.com/awnumar/memguard/core"
	"golang.org/x/sys/unix"
)

type coreBuffer = core.Buffer

func newCoreBuffer(n int) (*core.Buffer, error) { return core.NewBuffer(n) }

// memlockLimit returns RLIMIT_MEMLOCK in bytes (0 when it cannot be read).
func memlockLimit() int64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		return 0
	}
	if r.Cur == unix.RLIM_INFINITY || r.Cur > math.MaxInt64/2 {
		return 1 << 30
	}
	return int64(r.Cur)
}
