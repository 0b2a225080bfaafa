//go:build !linux

package secret

// HardenProcess disables core dumps where the platform allows it. On this
// platform there is nothing portable to do; it returns nil.
func HardenProcess() error { return nil }

func dumpable() (bool, error) { return true, nil }
