package keyward

import "time"

// SetJobTiming shortens, for a test, how long a regeneration waits for
// other processes to learn the new primary, and the lease of jobs. It
// returns a function that restores them.
func SetJobTiming(settle, lease time.Duration) (restore func()) {
	s, l := regenSettle, jobLease
	regenSettle, jobLease = settle, lease
	return func() { regenSettle, jobLease = s, l }
}
