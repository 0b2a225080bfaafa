package crypt

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStreamWriteLarge encrypts 64 MiB per operation through
// NewWriter in 1 MiB Writes (as io.CopyBuffer with a 1 MiB buffer does),
// to io.Discard and to a file in b.TempDir, emptied before every operation
// so that every operation writes into new page-cache pages.
func BenchmarkStreamWriteLarge(b *testing.B) {
	pt := make([]byte, 64<<20)
	run := func(b *testing.B, dst io.Writer, reset func()) {
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			reset()
			w, err := NewWriter(dst, streamDEK, 1, testCtx)
			if err != nil {
				b.Fatal(err)
			}
			for p := pt; len(p) > 0; p = p[1<<20:] {
				w.Write(p[:1<<20])
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("discard", func(b *testing.B) { run(b, io.Discard, func() {}) })
	b.Run("file", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "stream"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f, func() {
			b.StopTimer()
			if err := f.Truncate(0); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		})
	})
}

// BenchmarkStreamReadLarge decrypts 64 MiB per operation through a Reader
// with io.CopyBuffer and a 1 MiB buffer.
func BenchmarkStreamReadLarge(b *testing.B) {
	ct := sealStream(b, streamDEK, 1, testCtx, nil, make([]byte, 64<<20))
	buf := make([]byte, 1<<20)
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, r, buf); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
