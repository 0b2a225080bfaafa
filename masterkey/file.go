package masterkey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/keyward/keyward/secret"
)

func init() { Register("file", newFileProvider) }

// fileProvider reads its KEK from a raw 32-byte key file (file:PATH).
type fileProvider struct {
	path string
}

var _ Provider = (*fileProvider)(nil)

func newFileProvider(arg string, _ Options) (Provider, error) {
	if arg == "" {
		return nil, errf(ErrBadSpec, "masterkey: file needs a path: write file:/path/to/key")
	}
	return &fileProvider{path: arg}, nil
}

// Wrap creates the key file (mode 0600, 32 random bytes) when it does not
// exist, and never replaces an existing one.
func (p *fileProvider) Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error) {
	if err := ctxErr(ctx, "file"); err != nil {
		return nil, err
	}
	kek, err := loadOrCreateKeyFile(p.path)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return sealKEK("file", kek, root, ad)
}

// Unwrap reads the key file and opens blob.
func (p *fileProvider) Unwrap(ctx context.Context, blob, ad []byte) (*secret.Key, error) {
	if err := ctxErr(ctx, "file"); err != nil {
		return nil, err
	}
	if err := checkKEKBlob("file", blob); err != nil {
		return nil, err
	}
	kek, err := readKeyFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errf(ErrUnavailable,
			"masterkey: key file %s does not exist; restore it from your backup or mount the volume that holds it, or unlock with the recovery key", p.path)
	}
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	root, err := openKEK("file", kek, blob, ad)
	if errors.Is(err, ErrWrongKey) {
		return nil, wrongKeyFileError(p.path)
	}
	return root, err
}

func wrongKeyFileError(path string) error {
	return errf(ErrWrongKey,
		"masterkey: the key in %s does not open this slot (a different key, or a slot altered or copied from another deployment); restore the original key file, or unlock with the recovery key", path)
}

// readKeyFile returns the 32-byte key held in path. It refuses a file that
// group or others can read or write (on Unix) and a file of any other size.
// A missing file gives an error wrapping fs.ErrNotExist, so that callers
// can explain what a missing file means for them.
func readKeyFile(path string) (*secret.Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("masterkey: cannot open key file %s: %w; run keyward as the user that owns it", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("masterkey: key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, errf(ErrBadKeyFile, "masterkey: key file %s is not a regular file (%s); point the slot at a file holding the 32-byte key", path, st.Mode().Type())
	}
	if err := checkKeyFileMode(path, st.Mode()); err != nil {
		return nil, err
	}
	if st.Size() != keySize {
		return nil, badKeyFileError(path, st.Size())
	}
	buf := make([]byte, keySize+1) // one more, to notice a file that grew
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("masterkey: reading key file %s: %w", path, err)
	}
	if n != keySize {
		return nil, badKeyFileError(path, int64(n))
	}
	return secret.New(buf[:keySize]), nil
}

// checkKeyFileMode refuses a key file that group or others may read or
// write. Windows has no such mode bits; ACLs are left to the operator.
func checkKeyFileMode(path string, mode fs.FileMode) error {
	perm := mode.Perm()
	if runtime.GOOS == "windows" || perm&0o077 == 0 {
		return nil
	}
	what := "readable"
	if perm&0o044 == 0 {
		what = "writable"
	}
	return errf(ErrInsecure, "masterkey: key file %s is %s by group or others (mode %04o); run: chmod 600 %s",
		path, what, perm, shellQuote(path))
}

func badKeyFileError(path string, size int64) error {
	q := shellQuote(path)
	return errf(ErrBadKeyFile,
		"masterkey: key file %s has %d bytes, want exactly 32; restore the original from a backup (a new key cannot open existing slots), or make a new one with: head -c 32 /dev/urandom > %s && chmod 600 %s",
		path, size, q, q)
}

// loadOrCreateKeyFile reads path, or creates it with a random key when it
// does not exist.
func loadOrCreateKeyFile(path string) (*secret.Key, error) {
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeyFile(path)
	}
	return k, err
}

// createKeyFile writes a new random key to path with mode 0600 and never
// overwrites an existing file. The key is written to a temporary file in
// the same directory and hard-linked into place, so that a concurrent
// reader sees either no file or the whole key; on file systems without
// hard links it falls back to O_CREATE|O_EXCL. If another process wins the
// race, its key is read and used.
func createKeyFile(path string) (*secret.Key, error) {
	buf := make([]byte, keySize)
	defer clear(buf)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("masterkey: reading random key: %w", err)
	}
	dir := filepath.Dir(path)
	err := linkNewFile(dir, path, buf)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		err = writeNewFile(path, buf)
	}
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("masterkey: cannot create key file %s: %w; check that %s exists and is writable", path, err, dir)
	}
	syncDir(dir)
	return secret.New(buf), nil
}

func linkNewFile(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, data); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeAndClose(f, data); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable where the OS allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// shellQuote quotes s for a POSIX shell when it needs it, so that the
// commands in our hints can be pasted as they are.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%_+=:,./-", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
