package main

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1GiB": 1 << 30, "256MiB": 256 << 20, "64KiB": 64 << 10, "3M": 3 << 20, "1000": 1000, "7B": 7}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1MiB", "0", "1.5GiB", "12XB", "2048GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) did not fail", in)
		}
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`crypt: WARNING: built with keyward_insecure_passthrough
goos: linux
BenchmarkPut300/passthrough-2         	    1377	    830535 ns/op	    6108 B/op	     129 allocs/op
BenchmarkGet300/passthrough-2         	   28969	     46891.5 ns/op	    4744 B/op	      90 allocs/op
BenchmarkInterleaved/Get300-2         	  271490	      9156 ns/op	      9287 enc-ns/op	         1.029 enc/pt	      9028 pt-ns/op	    2072 B/op	      29 allocs/op
BenchmarkOther-2   	10	5 ns/op
BenchmarkBroken-2   	10	5 ns/op	7
BenchmarkNoNs-2   	10	5 B/op
--- FAIL: BenchmarkInterleaved/Put300
PASS
`)
	got := parseBench(out)
	want := []benchResult{
		{name: "Put300/passthrough", metrics: map[string]float64{"ns/op": 830535, "B/op": 6108, "allocs/op": 129}},
		{name: "Get300/passthrough", metrics: map[string]float64{"ns/op": 46891.5, "B/op": 4744, "allocs/op": 90}},
		{name: "Interleaved/Get300", metrics: map[string]float64{"ns/op": 9156, "enc-ns/op": 9287, "enc/pt": 1.029, "pt-ns/op": 9028, "B/op": 2072, "allocs/op": 29}},
		{name: "Other", metrics: map[string]float64{"ns/op": 5}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].name != want[i].name || !maps.Equal(got[i].metrics, want[i].metrics) {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPairRatios(t *testing.T) {
	ref := []sample{{wall: 2 * time.Second}, {wall: 3 * time.Second}}
	op := []sample{{wall: time.Second}, {wall: 2 * time.Second}}
	got := pairRatios(ref, op, wallOf)
	if len(got) != 2 || got[0] != 2 || got[1] != 1.5 {
		t.Fatalf("pairRatios = %v, want [2 1.5]", got)
	}
}

// TestStreamOps runs the measured stream operations in-process on small
// files, crossing the sequential and pipelined variants.
func TestStreamOps(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, randomKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"1", "65536", "3300000"} {
		in := filepath.Join(dir, "in"+size)
		sum, err := writeRandom(in, size)
		if err != nil {
			t.Fatal(err)
		}
		encs := map[string]bool{"seq": false, "pipe": true}
		decs := encs
		for en, enc := range encs {
			ct := filepath.Join(dir, "ct")
			if err := streamEncrypt(key, in, ct, enc); err != nil {
				t.Fatalf("%s encrypt of %s bytes: %v", en, size, err)
			}
			for dn, dec := range decs {
				out := filepath.Join(dir, "out")
				if err := streamDecrypt(key, ct, out, dec); err != nil {
					t.Fatalf("%s decrypt of %s encrypt, %s bytes: %v", dn, en, size, err)
				}
				if got, err := hashFile(out); err != nil || got != sum {
					t.Fatalf("%s encrypt, %s decrypt, %s bytes: output differs (%v)", en, dn, size, err)
				}
			}
		}
	}
}

// failAfter accepts n bytes, then fails.
type failAfter struct{ n int }

var errFull = errors.New("full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestAsyncWriter(t *testing.T) {
	var buf bytes.Buffer
	aw := newAsyncWriter(&buf)
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*copyBufSize/16+5)
	for p := want; len(p) > 0; p = p[min(len(p), 70000):] {
		if _, err := aw.Write(p[:min(len(p), 70000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("Close: %v; wrote %d bytes, want %d equal ones", err, buf.Len(), len(want))
	}

	aw = newAsyncWriter(&failAfter{n: copyBufSize})
	n, err := aw.ReadFrom(bytes.NewReader(make([]byte, 10*copyBufSize)))
	if err == nil {
		err = aw.Close()
	} else {
		aw.Close()
	}
	if !errors.Is(err, errFull) {
		t.Fatalf("ReadFrom read %d bytes, err %v; want %v", n, err, errFull)
	}
}

// TestLibOps stores and reads back a small attachment through the library
// path the benchmark measures.
func TestLibOps(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "lib")
	if err := libSetup(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	sum, err := writeRandom(in, "200000")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second put replaces the first
		if err := libPut(base, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := libGet(base, out); err != nil {
		t.Fatal(err)
	}
	if got, err := hashFile(out); err != nil || got != sum {
		t.Fatalf("output differs (%v)", err)
	}
}
