package serverlock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// A child process (this test binary, re-run) holds the lock of the
// directory in $SERVERLOCK_CHILD as "keys put" until its standard input
// closes, and never releases it: the kernel does when it exits.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SERVERLOCK_CHILD"); dir != "" {
		if _, err := Acquire(dir, "keys put"); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSecondAcquireInTheSameProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, Holder)
	if err != nil {
		t.Fatalf("Acquire() = %v", err)
	}
	_, err = Acquire(dir, "keys get")
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) || he.PID != os.Getpid() || he.Holder != Holder {
		t.Fatalf("second Acquire() = %#v, want a HeldError naming this process as the server", err)
	}
	want := fmt.Sprintf("a keyward server is running on this data directory (pid %d): stop it, or use the API (--server)", os.Getpid())
	if err.Error() != want {
		t.Errorf("HeldError = %q, want %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Release() = %v", err)
	}
	l, err = Acquire(dir, "keys get")
	if err != nil {
		t.Fatalf("Acquire() after Release = %v", err)
	}
	l.Release()
	if fi, err := os.Stat(dir + "/" + FileName); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %04o, want 0600", fi.Mode().Perm())
	}
}

func TestAnotherProcessHoldsTheLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the lock file of a killed process stays on Windows (documented)")
	}
	for _, kill := range []bool{false, true} {
		dir := t.TempDir()
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "SERVERLOCK_CHILD="+dir)
		stdin, _ := child.StdinPipe()
		stdout, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "locked\n" {
			child.Process.Kill()
			t.Fatalf("child said %q, want locked", line)
		}
		_, err := Acquire(dir, Holder)
		var he *HeldError
		if !errors.As(err, &he) || he.PID != child.Process.Pid || he.Holder != "keys put" ||
			!strings.Contains(err.Error(), fmt.Sprintf("keyward keys put, pid %d", child.Process.Pid)) {
			t.Errorf("Acquire() while a child holds it = %v, want a HeldError naming the child", err)
		}
		if kill {
			child.Process.Kill()
		} else {
			stdin.Close()
		}
		child.Wait()
		l, err := Acquire(dir, Holder)
		if err != nil {
			t.Fatalf("Acquire() after the child exited (killed: %v) = %v", kill, err)
		}
		l.Release()
	}
}

func TestMissingDirectory(t *testing.T) {
	_, err := Acquire(t.TempDir()+"/nope", Holder)
	if err == nil || errors.Is(err, ErrHeld) {
		t.Errorf("Acquire(missing dir) = %v, want an error other than ErrHeld", err)
	}
}
