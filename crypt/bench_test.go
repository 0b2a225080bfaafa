package crypt

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkSealRecord300(b *testing.B) {
	aead := testAEAD(b, randomKey(b))
	pt := make([]byte, 300)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		SealRecord(aead, 1, testCtx, pt)
	}
}

func BenchmarkOpenRecord300(b *testing.B) {
	aead := testAEAD(b, randomKey(b))
	ct := SealRecord(aead, 1, testCtx, make([]byte, 300))
	b.SetBytes(300)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenRecord(aead, testCtx, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamWrite encrypts 1 MiB per operation, key derivation and
// header included.
func BenchmarkStreamWrite(b *testing.B) {
	pt := make([]byte, 1<<20)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, streamDEK, 1, testCtx)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(pt)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamRead decrypts 1 MiB per operation, NewReader included.
func BenchmarkStreamRead(b *testing.B) {
	ct := sealStream(b, streamDEK, 1, testCtx, nil, make([]byte, 1<<20))
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), int64(len(ct)), streamDEK, testCtx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
