package secret

import (
	"os"
	"sync"
)

// memguard panics, and destroys every other guarded buffer in the process,
// when mlock fails. We therefore never ask it for more locked memory than the
// process may lock: we count the pages we hold and fall back to ordinary
// (still wiped) memory once half the RLIMIT_MEMLOCK budget is used.

var (
	lockMu      sync.Mutex
	lockBudget  int64 = -1 // bytes; -1 until first use
	lockUsed    int64
	lockDenied  bool
	lockEnabled = true
)

// pageCost is what one guarded buffer of n bytes costs in locked memory.
func pageCost(n int) int64 {
	ps := int64(os.Getpagesize())
	return (int64(n) + ps - 1) / ps * ps
}

func allocLocked(n int) *coreBuffer {
	lockMu.Lock()
	defer lockMu.Unlock()
	if !lockEnabled {
		return nil
	}
	if lockBudget < 0 {
		lockBudget = memlockLimit() / 2
	}
	cost := pageCost(n)
	if lockUsed+cost > lockBudget {
		lockDenied = true
		return nil
	}
	b, err := newCoreBuffer(n)
	if err != nil {
		lockDenied = true
		return nil
	}
	lockUsed += cost
	return b
}

func releaseLocked(n int) {
	lockMu.Lock()
	lockUsed -= pageCost(n)
	lockMu.Unlock()
}

// MemoryStatus reports how many bytes of key memory are locked and whether
// any key had to live in unlocked memory because the lock budget
// (half of RLIMIT_MEMLOCK) ran out. Raise the limit (ulimit -l, or
// LimitMEMLOCK= in a systemd unit) when Unlocked is true.
type MemoryStatus struct {
	LockedBytes int64
	BudgetBytes int64
	Unlocked    bool
}

// Memory returns the current MemoryStatus.
func Memory() MemoryStatus {
	lockMu.Lock()
	defer lockMu.Unlock()
	return MemoryStatus{LockedBytes: lockUsed, BudgetBytes: lockBudget, Unlocked: lockDenied}
}
