package secret

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestHardenProcess runs in a child so the test binary itself stays
// dumpable for the race detector and profilers.
func TestHardenProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux has PR_SET_DUMPABLE")
	}
	if os.Getenv("KEYWARD_HARDEN_CHILD") == "1" {
		if err := HardenProcess(); err != nil {
			t.Fatal(err)
		}
		d, err := dumpable()
		if err != nil || d {
			t.Fatalf("dumpable after HardenProcess = %v, %v", d, err)
		}
		b, _ := os.ReadFile("/proc/self/limits")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Max core file size") && !strings.Contains(l, " 0 ") {
				t.Fatalf("core limit not zero: %q", l)
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardenProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "KEYWARD_HARDEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
