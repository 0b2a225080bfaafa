//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the controlling side (what a
// person types goes in there) and the terminal a program reads.
func openPTY(t *testing.T) (control, tty *os.File) {
	t.Helper()
	control, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal on this Linux machine: %v", err)
	}
	t.Cleanup(func() { control.Close() })
	var n int
	rc, err := control.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return control, tty
}

// The recovery key can be typed: with --recovery-key-file - and a terminal
// on standard input, the CLI prompts and reads it without echo.
func TestRecoveryKeyTypedAtTerminal(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("init")
	m := regexp.MustCompile(`(?m)^recovery key: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no recovery key:\n%s", out)
	}
	rk := m[1]
	c.mustRun("db", "create", "typed")
	if err := os.RemoveAll(c.env["KEYWARD_KEY_DIR"]); err != nil { // only the recovery slot opens now
		t.Fatal(err)
	}
	if code, _, errOut := c.run("db", "ls"); code == exitOK {
		t.Fatalf("db ls unlocked without the key file or the recovery key:\n%s", errOut)
	}

	control, tty := openPTY(t)
	var stdout bytes.Buffer
	var stderr lockedBuffer
	getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--recovery-key-file", "-", "db", "ls"}, tty, &stdout, &stderr, getenv)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "Recovery key: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt on stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := control.WriteString(rk + "\r"); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the CLI did not finish after the recovery key was typed")
	}
	if code != exitOK || !strings.Contains(stdout.String(), "typed") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}
	// Nothing typed was echoed back to the terminal.
	echo := make([]byte, 4096)
	control.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, _ := control.Read(echo)
	if bytes.Contains(echo[:n], []byte(rk[:12])) {
		t.Fatalf("the recovery key was echoed to the terminal: %q", echo[:n])
	}
	if strings.Contains(stderr.String(), rk) || strings.Contains(stdout.String(), rk) {
		t.Fatal("the recovery key was printed")
	}
}
