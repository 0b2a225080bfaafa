package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesPassthroughBuild builds the real binary with the benchmark-only
// tag that disables encryption and checks that it refuses to run.
func TestRefusesPassthroughBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "keyward")
	build := exec.Command("go", "build", "-tags", "keyward_insecure_passthrough", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--data", t.TempDir(), "init")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("pass-through build ran: exit %d, err %v\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "refusing to run") || strings.Contains(string(out), "recovery key") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}
