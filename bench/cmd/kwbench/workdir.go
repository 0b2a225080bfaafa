package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/keyward/keyward/crypt"
)

// prepare makes the work directory: the random input and its hash, the
// stream key, age's identity, and the library deployment.
func prepare(ctx context.Context, size int64, dir string) (*work, error) {
	need := 8*size + 256<<20 // input, 3 ciphertexts, database (up to 2×), 1 output, slack
	dir, err := pickDir(dir, need)
	if err != nil {
		return nil, err
	}
	wd, err := os.MkdirTemp(dir, "kwbench-att-")
	if err != nil {
		return nil, err
	}
	w := &work{dir: wd, in: filepath.Join(wd, "input"), key: filepath.Join(wd, "stream.key"), size: size}
	if w.exe, err = os.Executable(); err != nil {
		return w, err
	}
	if w.age, err = exec.LookPath("age"); err != nil {
		return w, fmt.Errorf("the age CLI is needed as the reference: %w", err)
	}
	keygen, err := exec.LookPath("age-keygen")
	if err != nil {
		return w, err
	}
	if out, err := exec.CommandContext(ctx, keygen, "-o", w.path("age-key.txt")).CombinedOutput(); err != nil {
		return w, fmt.Errorf("age-keygen: %v: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, keygen, "-y", w.path("age-key.txt")).Output()
	if err != nil {
		return w, fmt.Errorf("age-keygen -y: %w", err)
	}
	w.recipient = strings.TrimSpace(string(out))
	if err := os.WriteFile(w.key, randomKey(), 0o600); err != nil {
		return w, err
	}
	if _, err := w.prep(ctx, "lib-setup", w.path("lib")); err != nil {
		return w, fmt.Errorf("library setup: %w", err)
	}
	fmt.Fprintf(os.Stderr, "kwbench: writing %d random bytes to %s\n", size, w.in)
	if w.sum, err = w.prep(ctx, "gen", w.in, fmt.Sprint(size)); err != nil {
		return w, err
	}
	return w, nil
}

// prep runs an unmeasured child operation and returns what it printed.
// Doing the heavy set-up and checking work in children keeps kwbench's own
// RSS low, which matters: see measure.
func (w *work) prep(ctx context.Context, op string, args ...string) (string, error) {
	a := w.self(op, args...)
	out, err := exec.CommandContext(ctx, a[0], a[1:]...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%s: %v: %s", op, err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}

// pickDir returns dir, or /dev/shm when it is a tmpfs with room (so that
// the figures measure the CPU work, not this machine's disk), or the temp
// directory; and fails when the directory has less than need bytes free.
func pickDir(dir string, need int64) (string, error) {
	if dir == "" {
		if free, fsType, err := statDir("/dev/shm"); err == nil && fsType == tmpfsMagic && free >= need && memAvailable() >= need {
			return "/dev/shm", nil
		}
		dir = os.TempDir()
	}
	free, _, err := statDir(dir)
	if err != nil {
		return "", err
	}
	if free < need {
		return "", fmt.Errorf("%s has %d MiB free, the run needs %d MiB: use a smaller -size or another -dir", dir, free>>20, need>>20)
	}
	return dir, nil
}

// statDir returns the bytes free to unprivileged users and the file system
// type of dir.
func statDir(dir string) (free, fsType int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Type), nil
}

// memAvailable returns MemAvailable from /proc/meminfo, or 0.
func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(b)) {
		var kib int64
		if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kib); err == nil {
			return kib << 10
		}
	}
	return 0
}

// randomKey returns a fresh stream key.
func randomKey() []byte {
	k := make([]byte, crypt.KeySize)
	_, _ = rand.Read(k) // never fails
	return k
}

// writeRandom writes size pseudo-random bytes (ChaCha8, fresh seed) to path
// and returns their SHA-256.
func writeRandom(path, sizeArg string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	size, err := parseSize(sizeArg)
	if err != nil {
		return sum, err
	}
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(mrand.NewChaCha8(seed), size), make([]byte, copyBufSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// hashFile returns the SHA-256 of a file.
func hashFile(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, readerOnly{f}, make([]byte, copyBufSize)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// printSum prints a hash in hex for the parent (children "gen", "sha256").
func printSum(sum [sha256.Size]byte, err error) error {
	if err == nil {
		fmt.Println(hex.EncodeToString(sum[:]))
	}
	return err
}
