//go:build !unix

package masterkey

import "os/exec"

// killProcessGroupOnCancel keeps exec.CommandContext's default, which
// kills only the command itself; Cmd.WaitDelay then closes the pipes that
// its children may still hold.
func killProcessGroupOnCancel(cmd *exec.Cmd) {}
