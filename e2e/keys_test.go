package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

// ageIdentity writes a new age identity file and returns its path and
// public key.
func ageIdentity(t *testing.T) (path, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

// mustRun runs the CLI and fails unless it exits with want.
func (e *env) mustRun(want int, args ...string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, code := e.run(args...)
	if code != want {
		e.t.Fatalf("keyward %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// TestServerLock: while `keyward serve` runs, a second server and the
// offline key commands refuse, naming its pid; entry commands and exports
// work beside it; once it stops, the key commands work.
func TestServerLock(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	e.mustRun(0, "db", "create", "app")
	e.mustRun(0, "put", "app", "a", "k=v")
	if out, _ := e.mustRun(0, "get", "app", "a", "--field", "k"); out != "v\n" {
		t.Errorf("get beside a server = %q", out)
	}
	idFile, recipient := ageIdentity(t)
	export := filepath.Join(t.TempDir(), "keys.age")
	e.mustRun(0, "keys", "export", "-o", export, "--recipient", recipient)
	e.mustRun(0, "keys", "import", export, "--identity", idFile, "--dry-run")

	held := fmt.Sprintf("a keyward server is running on this data directory (pid %d): stop it, or use the API (--server)", s.cmd.Process.Pid)
	for _, args := range [][]string{
		{"serve", "--listen", freeAddr(t)},
		{"keys", "get", "app"},
		{"keys", "put", "app", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "--version", "5"},
		{"keys", "import", export, "--identity", idFile, "--overwrite"},
		{"keys", "import", export, "--identity", idFile, "--rekey"},
	} {
		_, stderr := e.mustRun(1, args...)
		if !strings.Contains(stderr, held) {
			t.Errorf("keyward %s beside a server: %q, want it to say %q", strings.Join(args, " "), stderr, held)
		}
	}
	s.stop()

	out, stderr := e.mustRun(0, "keys", "get", "app")
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{43}=\n$`).MatchString(out) || !strings.Contains(stderr, "WARNING") {
		t.Errorf("keys get = %q (stderr %q), want a base64 key and a warning", out, stderr)
	}
	_, stderr = e.mustRun(0, "keys", "put", "app", strings.TrimSpace(out), "--version", "2")
	if !strings.Contains(stderr, "stored app key version 2 (active") {
		t.Errorf("keys put = %q", stderr)
	}
}

// TestMoveToNewMachine is docs/runbooks/new-machine.md: a deployment with
// entries and attachments is exported, its data directory copied to a
// machine without its key files, and brought back with keys import
// --rekey.
func TestMoveToNewMachine(t *testing.T) {
	old := newEnv(t)
	stdout, _ := old.mustRun(0, "init")
	oldRK := regexp.MustCompile(`(?m)^recovery key: (\S+)$`).FindStringSubmatch(stdout)
	if oldRK == nil {
		t.Fatalf("init printed no recovery key:\n%s", stdout)
	}
	file := filepath.Join(t.TempDir(), "doc.bin")
	doc := strings.Repeat("attachment bytes ", 20000)
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"app", "ops"} {
		old.mustRun(0, "db", "create", db)
		old.mustRun(0, "put", db, "a/b", "user=u-"+db, "pass=p-"+db)
		old.mustRun(0, "attach", "put", db, "a/b", file)
	}
	idFile, recipient := ageIdentity(t)
	export := filepath.Join(t.TempDir(), "keys.age")
	old.mustRun(0, "keys", "export", "-o", export, "--recipient", recipient, "--armor")
	checkWithAgeCLI(t, idFile, export, "app", "ops")

	moved := newEnv(t)
	if err := os.CopyFS(moved.data, os.DirFS(old.data)); err != nil {
		t.Fatal(err)
	}
	moved.mustRun(1, "status") // sealed: the auto key file stayed behind
	stdout, _ = moved.mustRun(0, "keys", "import", export, "--identity", idFile, "--rekey")
	newRK := regexp.MustCompile(`(?m)^recovery key: (\S+)$`).FindStringSubmatch(stdout)
	if newRK == nil || newRK[1] == oldRK[1] || !strings.Contains(stdout, "2 key version(s) wrapped") {
		t.Fatalf("keys import --rekey printed:\n%s", stdout)
	}
	for _, db := range []string{"app", "ops"} {
		if out, _ := moved.mustRun(0, "get", db, "a/b", "--field", "pass"); out != "p-"+db+"\n" {
			t.Errorf("get %s a/b after the move = %q", db, out)
		}
		if out, _ := moved.mustRun(0, "attach", "get", db, "a/b", "doc.bin"); out != doc {
			t.Errorf("attachment of %s after the move: %d bytes, want %d", db, len(out), len(doc))
		}
	}
	st, _ := moved.mustRun(0, "status")
	if !regexp.MustCompile(`(?m)^  3 +10 +auto .* unlocked$`).MatchString(st) || !regexp.MustCompile(`(?m)^  4 +1048576 +recovery `).MatchString(st) ||
		regexp.MustCompile(`(?m)^  [12] `).MatchString(st) {
		t.Errorf("status after the move does not show the new slots 3 (auto) and 4 (recovery) alone:\n%s", st)
	}
	// The old recovery key opens nothing; the new one does (without the
	// auto key file).
	for _, c := range []struct {
		rk   string
		want int
	}{{oldRK[1], 1}, {newRK[1], 0}} {
		rkFile := filepath.Join(t.TempDir(), "rk.txt")
		os.WriteFile(rkFile, []byte(c.rk+"\n"), 0o600)
		moved.mustRun(c.want, "--key-dir", t.TempDir(), "--recovery-key-file", rkFile, "get", "app", "a/b")
	}
	// A second rekey is refused: a slot unlocks now.
	_, stderr := moved.mustRun(1, "keys", "import", export, "--identity", idFile, "--rekey")
	if !strings.Contains(stderr, "slot add") {
		t.Errorf("second rekey: %q", stderr)
	}
}

// checkWithAgeCLI decrypts an export with the age CLI and checks it names
// the databases. Without the age CLI it skips, except under CI=true.
func checkWithAgeCLI(t *testing.T, idFile, export string, dbs ...string) {
	t.Helper()
	if _, err := exec.LookPath("age"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the age CLI is not installed (apt-get install age)")
		}
		t.Log("skipping the age CLI check: age is not installed (apt-get install age)")
		return
	}
	out, err := exec.Command("age", "-d", "-i", idFile, export).Output()
	if err != nil {
		t.Fatalf("age -d -i key.txt %s: %v", export, err)
	}
	var p struct {
		Format    string `json:"format"`
		Databases []struct {
			Name string `json:"name"`
		} `json:"databases"`
	}
	if err := json.Unmarshal(out, &p); err != nil || p.Format != "keyward-key-export" || len(p.Databases) != len(dbs) {
		t.Fatalf("age -d gave %d bytes that are not the expected export (%v)", len(out), err)
	}
	for i, db := range dbs {
		if p.Databases[i].Name != db {
			t.Errorf("database %d of the export is %q, want %q", i, p.Databases[i].Name, db)
		}
	}
}
