//go:build linux

package secret

import "golang.org/x/sys/unix"

// HardenProcess keeps key material out of core dumps and away from
// same-user debuggers: it sets RLIMIT_CORE to 0 and marks the process
// non-dumpable (PR_SET_DUMPABLE 0), which also forbids ptrace attach by
// unprivileged processes of the same user. Call it early in main.
func HardenProcess() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// dumpable reports the PR_GET_DUMPABLE flag (for tests).
func dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
