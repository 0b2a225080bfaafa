package masterkey_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

func writeKeyFile(t *testing.T, path string, n int, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte{0x5a}, n), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile is subject to umask
		t.Fatal(err)
	}
}

// keyFileCases are the bad key files both file and auto refuse.
var keyFileCases = []struct {
	name  string
	size  int
	mode  os.FileMode
	want  error
	parts []string // besides the path
	unix  bool     // mode bits only mean something on Unix
}{
	{"short", 31, 0o600, masterkey.ErrBadKeyFile, []string{"has 31 bytes", "head -c 32 /dev/urandom > "}, false},
	{"long", 33, 0o600, masterkey.ErrBadKeyFile, []string{"has 33 bytes", "&& chmod 600 "}, false},
	{"empty", 0, 0o600, masterkey.ErrBadKeyFile, []string{"has 0 bytes"}, false},
	{"world-readable", 32, 0o644, masterkey.ErrInsecure, []string{"readable by group or others (mode 0644)", "run: chmod 600 "}, true},
	{"group-readable", 32, 0o640, masterkey.ErrInsecure, []string{"(mode 0640)"}, true},
	{"group-writable", 32, 0o620, masterkey.ErrInsecure, []string{"writable by group or others (mode 0620)"}, true},
}

func TestFileBadKeyFiles(t *testing.T) {
	for _, tc := range keyFileCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unix && runtime.GOOS == "windows" {
				t.Skip("no Unix mode bits on Windows")
			}
			path := filepath.Join(t.TempDir(), "root.key")
			writeKeyFile(t, path, tc.size, tc.mode)
			p := mustNew(t, "file:"+path, masterkey.Options{})
			root := secret.Random(32)
			_, err := p.Wrap(context.Background(), root, testAD)
			wantErr(t, "Wrap", err, tc.want, append([]string{path}, tc.parts...)...)
			if got, _ := os.ReadFile(path); len(got) != tc.size {
				t.Errorf("Wrap changed the bad key file: now %d bytes", len(got))
			}
			// A good key file, swapped for the bad one after Wrap.
			writeKeyFile(t, path, 32, 0o600)
			blob := mustWrap(t, p, root)
			writeKeyFile(t, path, tc.size, tc.mode)
			_, err = p.Unwrap(context.Background(), blob, testAD)
			wantErr(t, "Unwrap", err, tc.want, append([]string{path}, tc.parts...)...)
		})
	}
}

func TestFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	p := mustNew(t, "file:"+path, masterkey.Options{})
	blob := mustWrap(t, p, secret.Random(32))
	os.Remove(path)
	_, err := p.Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap", err, masterkey.ErrUnavailable, path, "does not exist", "recovery key")
	if _, err := os.Stat(path); err == nil {
		t.Error("Unwrap created the missing key file")
	}
}

func TestFileWrapCreatesAndReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	root := secret.Random(32)
	blob := mustWrap(t, mustNew(t, "file:"+path, masterkey.Options{}), root)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 32 || runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("new key file: %d bytes, mode %v; want 32 bytes, -rw-------", st.Size(), st.Mode())
	}
	before, _ := os.ReadFile(path)
	// A second provider (another process, later) reuses the key.
	p2 := mustNew(t, "file:"+path, masterkey.Options{})
	mustWrap(t, p2, secret.Random(32))
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("Wrap replaced an existing key file")
	}
	got, err := p2.Unwrap(context.Background(), blob, testAD)
	if err != nil || !got.Equal(root) {
		t.Fatalf("Unwrap with a second provider: %v", err)
	}
}

func TestFileReplacedKeyIsWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	p := mustNew(t, "file:"+path, masterkey.Options{})
	blob := mustWrap(t, p, secret.Random(32))
	writeKeyFile(t, path, 32, 0o600)
	_, err := p.Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap", err, masterkey.ErrWrongKey, path, "recovery key")
}

func TestFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	_, err := mustNew(t, "file:"+dir, masterkey.Options{}).Wrap(context.Background(), secret.Random(32), testAD)
	wantErr(t, "Wrap(directory)", err, masterkey.ErrBadKeyFile, "not a regular file")
}

func TestFileHintQuotesPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell quoting")
	}
	path := filepath.Join(t.TempDir(), "my key's file")
	writeKeyFile(t, path, 31, 0o600)
	_, err := mustNew(t, "file:"+path, masterkey.Options{}).Wrap(context.Background(), secret.Random(32), testAD)
	wantErr(t, "Wrap", err, masterkey.ErrBadKeyFile, `> '`+filepath.Dir(path)+`/my key'\''s file' && chmod 600 '`)
}

func TestAutoCreatesKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg", "keyward")
	p := mustNew(t, "auto", masterkey.Options{DeploymentID: "prod-1", KeyDir: dir})
	root := secret.Random(32)
	blob := mustWrap(t, p, root)
	path := filepath.Join(dir, "prod-1.key")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Wrap did not create %s: %v", path, err)
	}
	dst, _ := os.Stat(dir)
	if st.Size() != 32 || runtime.GOOS != "windows" && (st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700) {
		t.Errorf("key file %d bytes mode %v, dir mode %v; want 32 bytes, 0600, 0700", st.Size(), st.Mode(), dst.Mode())
	}
	got, err := mustNew(t, "auto", masterkey.Options{DeploymentID: "prod-1", KeyDir: dir}).Unwrap(context.Background(), blob, testAD)
	if err != nil || !got.Equal(root) {
		t.Fatalf("Unwrap: %v", err)
	}
}

func TestAutoMissingKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := mustNew(t, "auto", masterkey.Options{DeploymentID: "prod-1", KeyDir: dir})
	blob := mustWrap(t, p, secret.Random(32))
	path := filepath.Join(dir, "prod-1.key")
	os.Remove(path)
	_, err := p.Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap", err, masterkey.ErrUnavailable, path, "another machine", "deleted", "recovery key")
	if _, err := os.Stat(path); err == nil {
		t.Error("Unwrap created a key file")
	}
}

func TestAutoInsecureKeyFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "prod-1.key")
	writeKeyFile(t, path, 32, 0o644)
	_, err := mustNew(t, "auto", masterkey.Options{DeploymentID: "prod-1", KeyDir: dir}).Wrap(context.Background(), secret.Random(32), testAD)
	wantErr(t, "Wrap", err, masterkey.ErrInsecure, "key file "+path+" is readable by group or others (mode 0644); run: chmod 600 "+path)
}

// Many processes initialising at once must end up sharing one key.
func TestAutoConcurrentCreation(t *testing.T) {
	dir := t.TempDir()
	opts := masterkey.Options{DeploymentID: "race", KeyDir: dir}
	root := secret.Random(32)
	blobs := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range blobs {
		wg.Go(func() {
			blob, err := mustNew(t, "auto", opts).Wrap(context.Background(), root, testAD)
			if err != nil {
				t.Errorf("Wrap: %v", err)
			}
			blobs[i] = blob
		})
	}
	wg.Wait()
	p := mustNew(t, "auto", opts)
	for i, blob := range blobs {
		if got, err := p.Unwrap(context.Background(), blob, testAD); err != nil || !got.Equal(root) {
			t.Errorf("blob %d: Unwrap: %v", i, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want just race.key (temporary files left?)", len(entries))
	}
}

func TestAutoKeyDir(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name    string
		keyDir  string
		env     map[string]string
		wantDir string
	}{
		{"option", filepath.Join(tmp, "opt"), map[string]string{"KEYWARD_KEY_DIR": filepath.Join(tmp, "env")}, filepath.Join(tmp, "opt")},
		{"KEYWARD_KEY_DIR", "", map[string]string{"KEYWARD_KEY_DIR": filepath.Join(tmp, "env"), "XDG_CONFIG_HOME": filepath.Join(tmp, "xdg")}, filepath.Join(tmp, "env")},
		{"XDG_CONFIG_HOME", "", map[string]string{"XDG_CONFIG_HOME": filepath.Join(tmp, "xdg"), "HOME": filepath.Join(tmp, "home")}, filepath.Join(tmp, "xdg", "keyward")},
		{"relative XDG ignored", "", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": filepath.Join(tmp, "home")}, filepath.Join(tmp, "home", ".config", "keyward")},
		{"HOME", "", map[string]string{"HOME": filepath.Join(tmp, "home2")}, filepath.Join(tmp, "home2", ".config", "keyward")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, "auto", masterkey.Options{DeploymentID: "d", KeyDir: tt.keyDir, Getenv: mapEnv(tt.env)})
			mustWrap(t, p, secret.Random(32))
			if _, err := os.Stat(filepath.Join(tt.wantDir, "d.key")); err != nil {
				t.Errorf("key file not in %s: %v", tt.wantDir, err)
			}
		})
	}
	t.Run("nothing set", func(t *testing.T) {
		p := mustNew(t, "auto", masterkey.Options{DeploymentID: "d", Getenv: mapEnv(nil)})
		_, err := p.Wrap(context.Background(), secret.Random(32), testAD)
		wantErr(t, "Wrap", err, masterkey.ErrUnavailable, "set KEYWARD_KEY_DIR")
	})
}

func TestAutoBadSpec(t *testing.T) {
	for _, id := range []string{"", ".hidden", "../up", "a/b", `a\b`, "a b", "é"} {
		_, err := masterkey.New("auto", masterkey.Options{DeploymentID: id, KeyDir: t.TempDir()})
		wantErr(t, "New(auto, id "+id+")", err, masterkey.ErrBadSpec, "DeploymentID")
	}
	_, err := masterkey.New("auto:x", masterkey.Options{DeploymentID: "d"})
	wantErr(t, "New(auto:x)", err, masterkey.ErrBadSpec, "file:PATH")
	_, err = masterkey.New("file:", masterkey.Options{})
	wantErr(t, "New(file:)", err, masterkey.ErrBadSpec, "file:/path/to/key")
}
