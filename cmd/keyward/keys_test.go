package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/storedump"
	"github.com/keyward/keyward/server"
)

// identity writes a new age identity file in dir and returns its path and
// public key.
func identity(t *testing.T, dir string) (string, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

func (c *cli) dump() string {
	c.t.Helper()
	d, err := storedump.Dump(c.env["KEYWARD_DATA"])
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// fails runs the CLI and checks the exit status and that stderr says want.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	got, _, stderr := c.run(args...)
	if got != code || !strings.Contains(stderr, want) {
		c.t.Errorf("keyward %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(args, " "), got, stderr, code, want)
	}
}

// deployment makes a deployment with entries in app and an export of its
// keys to a new identity.
func deployment(t *testing.T) (c *cli, export, idFile string) {
	t.Helper()
	c = newCLI(t)
	c.mustRun("init")
	c.mustRun("db", "create", "app")
	c.mustRun("put", "app", "a", "k=v")
	c.mustRun("put", "app", "b", "k=w")
	dir := t.TempDir()
	idFile, recipient := identity(t, dir)
	export = filepath.Join(dir, "keys.age")
	c.mustRun("keys", "export", "-o", export, "--recipient", recipient)
	return c, export, idFile
}

func TestKeysExportFile(t *testing.T) {
	c, export, idFile := deployment(t)
	fi, err := os.Stat(export)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v; want 0600", err, fi.Mode())
	}
	first, _ := os.ReadFile(export)
	if !bytes.HasPrefix(first, []byte("age-encryption.org/v1\n")) {
		t.Errorf("export without --armor starts %.30q, want a binary age file", first)
	}
	_, recipient := identity(t, t.TempDir())
	c.fails(exitError, "exists: choose another file, or give --force", "keys", "export", "-o", export, "--recipient", recipient)
	if again, _ := os.ReadFile(export); !bytes.Equal(again, first) {
		t.Error("a refused export changed the existing file")
	}
	c.mustRun("keys", "export", "-o", export, "--recipient", recipient, "--armor", "--force")
	if b, _ := os.ReadFile(export); !bytes.HasPrefix(b, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		t.Errorf("export with --armor --force starts %.30q", b)
	}
	c.fails(exitError, "does not open", "keys", "import", export, "--identity", idFile, "--dry-run")
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(export), ".keys.age.keyward-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	for _, c2 := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "export", "--recipient", recipient}, "-o FILE"},
		{[]string{"keys", "export", "-o", "x.age", "--recipient", recipient, "--passphrase-env", "P"}, "exclude each other"},
		{[]string{"keys", "export", "-o", "x.age", "--recipient", "age1nope"}, "not an age public key"},
		{[]string{"keys", "export", "-o", "x.age", "--recipient", "AGE-SECRET-KEY-1QQQQ"}, "must stay private"},
		{[]string{"keys", "export", "-o", "x.age"}, "no terminal"},
		{[]string{"keys", "import", export, "--identity", idFile, "--passphrase-env", "P"}, "give one of"},
		{[]string{"keys", "import", export, "--master-key", "auto"}, "--master-key goes with --rekey"},
		{[]string{"keys", "import", export, "--rekey", "--dry-run"}, "--rekey excludes"},
		{[]string{"keys", "import", export}, "no terminal"},
		{[]string{"keys", "put", "app", "not base64"}, "32 bytes in standard base64"},
	} {
		c.fails(exitUsage, c2.want, c2.args...)
	}
}

func TestKeysPassphraseExport(t *testing.T) {
	scryptWorkFactor = 10 // fast; the file carries it to the import
	defer func() { scryptWorkFactor = 0 }()
	c, _, _ := deployment(t)
	c.env["EXPORT_PASS"] = "a long enough passphrase"
	export := filepath.Join(t.TempDir(), "keys.age")
	c.mustRun("keys", "export", "-o", export, "--passphrase-env", "EXPORT_PASS")
	_, out, stderr := c.run("keys", "import", export, "--passphrase-env", "EXPORT_PASS", "--dry-run")
	if !regexp.MustCompile(`(?m)^app +1 +same +primary +[0-9a-f]{16} +-$`).MatchString(out) || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("dry run of the passphrase export:\n%s%s", out, stderr)
	}
	c.env["EXPORT_PASS"] = "wrong"
	before := c.dump()
	for _, extra := range []string{"--dry-run", "--overwrite"} {
		c.fails(exitError, "the passphrase or identity does not open this export", "keys", "import", export, "--passphrase-env", "EXPORT_PASS", extra)
	}
	if c.dump() != before {
		t.Error("an import with the wrong passphrase changed the store")
	}
}

// TestKeysImportBadExportChangesNothing: an export that is damaged,
// truncated, opened with the wrong secret or of another deployment fails
// cleanly, with --overwrite too, and leaves the store exactly as it was.
func TestKeysImportBadExportChangesNothing(t *testing.T) {
	c, export, idFile := deployment(t)
	good, _ := os.ReadFile(export)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-40] ^= 1
	other, otherExport, otherID := deployment(t)
	_ = other
	wrongID, _ := identity(t, t.TempDir())
	before := c.dump()
	for _, tc := range []struct {
		file, id, want string
	}{
		{write("flipped.age", flipped), idFile, "truncated, altered or not a keyward export"},
		{write("truncated.age", good[:len(good)/2]), idFile, "truncated, altered or not a keyward export"},
		{write("empty.age", nil), idFile, "truncated, altered or not a keyward export"},
		{write("text.age", []byte("hello\n")), idFile, "truncated, altered or not a keyward export"},
		{export, wrongID, "does not open this export"},
		{otherExport, otherID, "belongs to another deployment"},
		{filepath.Join(dir, "missing.age"), idFile, "no such file"},
	} {
		for _, extra := range [][]string{nil, {"--overwrite"}} {
			args := append([]string{"keys", "import", tc.file, "--identity", tc.id}, extra...)
			c.fails(exitError, tc.want, args...)
		}
	}
	if after := c.dump(); after != before {
		t.Errorf("failed imports changed the store:\n%s\nwant\n%s", after, before)
	}
}

func TestKeysImportConflict(t *testing.T) {
	c, export, idFile := deployment(t)
	// Version 1's stored key is replaced by another one: app's rows no
	// longer open, and the export's key is the one that opens them.
	_, _, stderr := c.run("keys", "put", "app", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "--version", "1")
	if !strings.Contains(stderr, "holds another key than the one given") || !strings.Contains(stderr, "2 entries") {
		t.Errorf("keys put over a different key without --overwrite: %q", stderr)
	}
	_, _, stderr = c.run("keys", "put", "app", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "--version", "1", "--overwrite")
	if !strings.Contains(stderr, "WARNING: the stored key of app version 1 was replaced: the 2 entries and 0 attachments encrypted under the old key WILL NO LONGER OPEN") {
		t.Errorf("keys put --overwrite: %q", stderr)
	}
	c.fails(exitError, "failed to decrypt", "get", "app", "a")

	before := c.dump()
	c.fails(exitError, "app version 1 (2 entries, 0 attachments use it)", "keys", "import", export, "--identity", idFile)
	code, out, stderr := c.run("keys", "import", export, "--identity", idFile, "--dry-run")
	if code != exitError || !strings.Contains(out, "the stored key differs; 2 entries and 0 attachments use this version, a sample opens with the exported key") ||
		!strings.Contains(stderr, "dry run: 1 key version(s) hold another key") {
		t.Errorf("dry run with a conflict: exit %d\n%s%s", code, out, stderr)
	}
	if c.dump() != before {
		t.Fatal("a refused import or a dry run changed the store")
	}
	_, out, stderr = c.run("keys", "import", export, "--identity", idFile, "--overwrite")
	if !regexp.MustCompile(`(?m)^app +1 +replace +primary `).MatchString(out) || !strings.Contains(stderr, "a sample of its 2 entries and 0 attachments opens with the imported key") {
		t.Errorf("import --overwrite:\n%s%s", out, stderr)
	}
	if got := c.mustRun("get", "app", "a", "--field", "k"); got != "v\n" {
		t.Errorf("get after the export's key was put back = %q", got)
	}
}

// TestKeysThroughServer: export and import in client mode go through the
// API; the offline commands refuse it.
func TestKeysThroughServer(t *testing.T) {
	ctx := context.Background()
	kw, _, res := kwtest.Deployment(t, keyward.Config{})
	srv, err := server.New(server.Config{Keyward: kw})
	if err != nil {
		t.Fatal(err)
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	srv.ResumeJobs(jobsCtx)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c := newCLI(t)
	c.env["KEYWARD_ADDR"], c.env["KEYWARD_TOKEN"] = ts.URL, res.AdminToken
	c.mustRun("db", "create", "app")
	c.mustRun("put", "app", "a", "k=v")

	idFile, recipient := identity(t, t.TempDir())
	for _, armor := range []bool{false, true} {
		export := filepath.Join(t.TempDir(), "keys.age")
		args := []string{"keys", "export", "-o", export, "--recipient", recipient}
		if armor {
			args = append(args, "--armor")
		}
		_, _, stderr := c.run(args...)
		if !strings.Contains(stderr, "exported 1 key version(s) of 1 database(s) from "+ts.URL) {
			t.Errorf("keys export through the server: %q", stderr)
		}
		b, _ := os.ReadFile(export)
		if bytes.HasPrefix(b, []byte("-----BEGIN")) != armor {
			t.Errorf("export through the server with armor %v starts %.20q", armor, b)
		}
		_, out, stderr := c.run("keys", "import", export, "--identity", idFile, "--dry-run")
		if !regexp.MustCompile(`(?m)^app +1 +same +primary `).MatchString(out) || !strings.Contains(stderr, "dry run on "+ts.URL) {
			t.Errorf("keys import --dry-run through the server:\n%s%s", out, stderr)
		}
	}
	c.env["P"] = "a long enough passphrase"
	c.fails(exitError, "never with a passphrase", "keys", "export", "-o", filepath.Join(t.TempDir(), "k.age"), "--passphrase-env", "P")
	for _, args := range [][]string{{"keys", "get", "app"}, {"keys", "put", "app", "-"}, {"keys", "import", "x.age", "--identity", idFile, "--rekey"}} {
		c.fails(exitError, "works on the data directory, not through a server", args...)
	}

	// regenerate through the server: the backup is the server's export to
	// the recipient, written here before the job starts.
	backup := filepath.Join(t.TempDir(), "backup.age")
	c.fails(exitUsage, "public keys", "keys", "regenerate", "--backup", backup, "--passphrase-env", "P", "--yes")
	c.mustRun("keys", "regenerate", "--backup", backup, "--recipient", recipient, "--yes")
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, _ := age.ParseX25519Identity(strings.TrimSpace(string(mustReadFile(t, idFile))))
	b, err := bundle.Read(f, []age.Identity{id})
	if err != nil || len(b.Databases) != 1 || len(b.Databases[0].Keys) != 1 || b.Databases[0].Keys[0].Version != 1 {
		t.Fatalf("the client-mode backup = %+v, %v; want app's key version 1", b, err)
	}
	if got := strings.TrimSpace(c.mustRun("get", "app", "a", "--field", "k")); got != "v" {
		t.Errorf("entry a after regenerating through the server = %q", got)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keys import --reencrypt puts the data under the export's keys: the
// export's primary key becomes a new primary version holding the same key
// material, and every entry is re-encrypted onto it.
func TestKeysImportReencrypt(t *testing.T) {
	c, export, idFile := deployment(t)
	c.fails(2, "--reencrypt excludes", "keys", "import", export, "--identity", idFile, "--reencrypt", "--dry-run")
	c.fails(2, "--yes", "keys", "import", export, "--identity", idFile, "--reencrypt") // no terminal to ask on
	c.mustRun("keys", "import", export, "--identity", idFile, "--reencrypt", "--yes")
	v1 := strings.TrimSpace(c.mustRun("keys", "get", "app", "--version", "1"))
	v2 := strings.TrimSpace(c.mustRun("keys", "get", "app", "--version", "2"))
	if v1 == "" || v1 != v2 {
		t.Fatalf("version 2 does not hold the imported (version 1) key material")
	}
	status := c.mustRun("status", "--json")
	for _, want := range []string{`"version": 1,\s+"state": "retired"`, `"version": 2,\s+"state": "primary"[^}]*"entries": 2`} {
		if !regexp.MustCompile(want).MatchString(status) {
			t.Errorf("status does not match %s:\n%s", want, status)
		}
	}
	if got := strings.TrimSpace(c.mustRun("get", "app", "a", "--field", "k")); got != "v" {
		t.Errorf("entry a after re-encryption = %q", got)
	}
}
