package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // driver "sqlite", to alter the store behind keyward's back

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store/sqlite"
)

// cli runs the CLI in this process against a data and key directory of its
// own.
type cli struct {
	t   *testing.T
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, env: map[string]string{
		"KEYWARD_DATA":    filepath.Join(dir, "data"),
		"KEYWARD_KEY_DIR": filepath.Join(dir, "keys"),
	}}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("keyward %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// alter flips one byte of a BLOB column in the store's SQLite file.
func (c *cli) alter(query, update string, args ...any) {
	c.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(c.env["KEYWARD_DATA"], keyward.DBFile))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var blob []byte
	if err := db.QueryRow(query, args...).Scan(&blob); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	blob[len(blob)/2] ^= 0x01
	if _, err := db.Exec(update, append([]any{blob}, args...)...); err != nil {
		c.t.Fatalf("%s: %v", update, err)
	}
}

// alterAttachment flips one byte in chunk i of the only attachment file.
func (c *cli) alterAttachment(i int) {
	c.t.Helper()
	files, err := filepath.Glob(filepath.Join(c.env["KEYWARD_DATA"], sqlite.AttachmentsDir, "*"))
	if err != nil || len(files) != 1 {
		c.t.Fatalf("attachment files = %v, %v; want one", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		c.t.Fatal(err)
	}
	b[i*(crypt.ChunkSize+crypt.ChunkOverhead)+100] ^= 0x01
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// TestTamperedEntry: an entry whose ciphertext was altered in the file is
// reported by path, with exit status 1 and nothing on standard output.
func TestTamperedEntry(t *testing.T) {
	c := newCLI(t)
	c.mustRun("init")
	c.mustRun("db", "create", "app")
	c.mustRun("put", "app", "prod/db", "password=hunter2")
	c.mustRun("put", "app", "prod/other", "password=fine")
	c.alter("SELECT ciphertext FROM entries WHERE path = ?",
		"UPDATE entries SET ciphertext = ? WHERE path = ?", "prod/db")

	for _, args := range [][]string{
		{"get", "app", "prod/db"},
		{"get", "app", "prod/db", "--json"},
		{"get", "app", "prod/db", "--field", "password"},
	} {
		code, out, errOut := c.run(args...)
		if code != exitError {
			t.Errorf("keyward %s: exit %d, want %d", strings.Join(args, " "), code, exitError)
		}
		if out != "" {
			t.Errorf("keyward %s printed %q on stdout, want nothing", strings.Join(args, " "), out)
		}
		if !strings.Contains(errOut, `entry "prod/db"`) || !strings.Contains(errOut, "failed to decrypt") {
			t.Errorf("keyward %s: stderr = %q, want it to name entry \"prod/db\" and say it failed to decrypt", strings.Join(args, " "), errOut)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("keyward %s: stderr holds the plaintext: %q", strings.Join(args, " "), errOut)
		}
	}
	// The other entry is unharmed.
	if got := c.mustRun("get", "app", "prod/other", "--field", "password"); got != "fine\n" {
		t.Errorf("get prod/other --field password = %q, want %q", got, "fine\n")
	}
}

// TestTamperedAttachment: a chunk altered in the file makes `attach get -o`
// fail and leaves neither the output file nor a temporary file behind.
func TestTamperedAttachment(t *testing.T) {
	c := newCLI(t)
	c.mustRun("init")
	c.mustRun("db", "create", "docs")
	c.mustRun("put", "docs", "contract", "title=lease")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	data := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16) // 4 chunks
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.mustRun("attach", "put", "docs", "contract", in)
	c.alterAttachment(1)

	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := c.run("attach", "get", "docs", "contract", "in.bin", "-o", filepath.Join(outDir, "in.bin"))
	if code != exitError {
		t.Errorf("attach get -o: exit %d, want %d", code, exitError)
	}
	if !strings.Contains(errOut, `attachment "in.bin" of entry "contract"`) {
		t.Errorf("attach get -o: stderr = %q, want it to name the attachment", errOut)
	}
	if left, _ := os.ReadDir(outDir); len(left) != 0 {
		t.Errorf("attach get -o left %d file(s) behind: %v", len(left), left)
	}

	// To standard output: the whole attachment is authenticated before the
	// first byte goes out, so the chunk before the altered one is not
	// printed either.
	code, out, errOut := c.run("attach", "get", "docs", "contract", "in.bin")
	if code != exitError || !strings.Contains(errOut, `attachment "in.bin" of entry "contract"`) {
		t.Errorf("attach get: exit %d, stderr %q; want exit 1 naming the attachment", code, errOut)
	}
	if len(out) != 0 {
		t.Errorf("attach get printed %d bytes of an attachment with an altered chunk, want none", len(out))
	}
}
