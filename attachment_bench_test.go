package keyward_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// The attachment benchmarks run the library path on a real file system:
// PutAttachment from a file into SQLite, and OpenAttachment copied to a file
// (as `kwbench` does) or to io.Discard (the library's own cost). Files go to
// b.TempDir(), or to $KEYWARD_BENCH_DIR when set (e.g. /dev/shm).

const benchAttachmentSize = 64 << 20

// benchDeployment initialises a deployment with one database and one entry.
func benchDeployment(b *testing.B) (*keyward.Database, string) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	if d := os.Getenv("KEYWARD_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "kwbench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	cfg := keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}
	if _, err := keyward.Init(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kw.Close() })
	db, err := kw.CreateDatabase(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Put(ctx, keyward.Entry{Path: "e"}); err != nil {
		b.Fatal(err)
	}
	return db, dir
}

// benchInput writes a random file of n bytes and returns its path and hash.
func benchInput(b *testing.B, dir string, n int) (string, [32]byte) {
	b.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(dir, "input")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

func putFile(b *testing.B, db *keyward.Database, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := db.PutAttachment(context.Background(), "e", "a", f); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPutAttachment64MiB stores 64 MiB from a file (in the page
// cache: reading it costs a copy), and from a source that waits 1 ms after
// every 512 KiB it returns (at most about 500 MB/s, as a network or a disk
// would deliver it).
func BenchmarkPutAttachment64MiB(b *testing.B) {
	db, dir := benchDeployment(b)
	in, _ := benchInput(b, dir, benchAttachmentSize)
	b.Run("file", func(b *testing.B) {
		b.SetBytes(benchAttachmentSize)
		for b.Loop() {
			putFile(b, db, in)
		}
	})
	b.Run("slow-source", func(b *testing.B) {
		data, err := os.ReadFile(in)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchAttachmentSize)
		for b.Loop() {
			src := &slowReader{r: bytes.NewReader(data), every: 512 << 10, wait: time.Millisecond}
			if _, err := db.PutAttachment(context.Background(), "e", "a", src); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// slowReader sleeps for wait each time it has returned another every bytes.
type slowReader struct {
	r     io.Reader
	every int
	wait  time.Duration
	n     int // bytes since the last wait
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n >= s.every {
		time.Sleep(s.wait)
		s.n = 0
	}
	n, err := s.r.Read(p[:min(len(p), s.every-s.n)])
	s.n += n
	return n, err
}

// writeOnly hides *os.File's ReadFrom, so that io.CopyBuffer uses its buffer.
type writeOnly struct{ io.Writer }

func BenchmarkOpenAttachment64MiB(b *testing.B) {
	db, dir := benchDeployment(b)
	in, sum := benchInput(b, dir, benchAttachmentSize)
	putFile(b, db, in)
	buf := make([]byte, 1<<20)
	for _, to := range []string{"file", "discard"} {
		b.Run(to, func(b *testing.B) {
			out := filepath.Join(dir, "output")
			b.SetBytes(benchAttachmentSize)
			for b.Loop() {
				ar, err := db.OpenAttachment(context.Background(), "e", "a")
				if err != nil {
					b.Fatal(err)
				}
				var w io.Writer = io.Discard
				var f *os.File
				if to == "file" {
					if f, err = os.Create(out); err != nil {
						b.Fatal(err)
					}
					w = writeOnly{f}
				}
				n, err := io.CopyBuffer(w, ar, buf)
				if err != nil || n != benchAttachmentSize {
					b.Fatalf("copied %d bytes, %v", n, err)
				}
				ar.Close()
				if f != nil {
					if err := f.Close(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if to == "file" {
				got, err := os.ReadFile(out)
				if err != nil || sha256.Sum256(got) != sum {
					b.Fatalf("output differs from the input (%v)", err)
				}
				os.Remove(out)
			}
		})
	}
}
