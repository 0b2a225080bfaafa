package sqlite

// SetGroupCommit turns group commit on or off for the stores opened from
// now on, for benchmarks that compare both paths; restore puts back the
// previous setting.
func SetGroupCommit(on bool) (restore func()) {
	prev := groupCommitDefault.Swap(on)
	return func() { groupCommitDefault.Store(prev) }
}

// GroupCounters returns how many operations and batches all stores of the
// process have written through group commit.
func GroupCounters() (ops, batches int64) { return allOps.Load(), allBatches.Load() }
