//go:build unix

package masterkey

import (
	"os/exec"
	"syscall"
)

// killProcessGroupOnCancel starts the command in a process group of its own
// and, when the timeout expires or the context is cancelled, kills the
// whole group, so that a child the command started (a shell script's
// sleep, an agent) cannot keep the unlock waiting.
func killProcessGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
}
