package main

import (
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// dirSnapshot maps each file under dir to its content.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		m[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A data directory written by a newer keyward is refused with exit status 1
// and a message saying to upgrade keyward, and no file in it changes.
func TestNewerSchemaCLI(t *testing.T) {
	c := newCLI(t)
	c.mustRun("init")
	c.mustRun("db", "create", "app")
	c.mustRun("put", "app", "a", "x=1")
	db, err := sql.Open("sqlite", filepath.Join(c.env["KEYWARD_DATA"], keyward.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirSnapshot(t, c.env["KEYWARD_DATA"])

	for _, args := range [][]string{{"get", "app", "a"}, {"put", "app", "b", "x=2"}, {"status"}} {
		code, stdout, stderr := c.run(args...)
		cmd := "keyward " + strings.Join(args, " ")
		if code != exitError {
			t.Errorf("%s on a newer schema: exit %d, want %d; stderr:\n%s", cmd, code, exitError, stderr)
		}
		if !strings.Contains(stderr, "upgrade keyward") {
			t.Errorf("%s on a newer schema: stderr %q does not say to upgrade keyward", cmd, stderr)
		}
		if stdout != "" {
			t.Errorf("%s on a newer schema printed %q", cmd, stdout)
		}
		t.Logf("%s: %s", cmd, strings.TrimSpace(stderr))
	}

	after := dirSnapshot(t, c.env["KEYWARD_DATA"])
	if len(after) != len(before) || len(before) == 0 {
		t.Errorf("files before %d, after %d", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("refusing a newer schema changed %s", name)
		}
	}
}
