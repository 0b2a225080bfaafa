//go:build !unix

package secret

import "github.com/awnumar/memguard/core"

type coreBuffer = core.Buffer

func newCoreBuffer(n int) (*core.Buffer, error) { return core.NewBuffer(n) }

// memlockLimit: Windows' VirtualLock works on the working set; keep to a
// modest budget of 1 MiB of locked key memory.
func memlockLimit() int64 { return 2 << 20 }
