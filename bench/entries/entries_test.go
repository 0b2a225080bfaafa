package entries

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
)

// preload is how many entries the shared deployment holds before the
// benchmarks run; Put overwrites them and Get reads them round robin, so
// the database keeps the same size however long a benchmark runs.
const preload = 256

// dirEnv, when set, is the parent directory of the benchmark deployment
// (default: the system temporary directory). Put pays one fsync per entry
// (SQLite synchronous=FULL), so the file system matters.
const dirEnv = "KWBENCH_DIR"

var (
	shared     *Env
	sharedErr  error
	sharedOnce sync.Once
	// opened are the deployments the benchmarks made, which TestMain
	// closes at the end.
	opened []*Env
)

// sharedEnv returns the deployment all benchmarks of this process use, made
// and filled on first use (outside any timing).
func sharedEnv(b *testing.B) *Env {
	b.Helper()
	sharedOnce.Do(func() {
		ctx := context.Background()
		shared, sharedErr = NewEnv(ctx, os.Getenv(dirEnv))
		if sharedErr == nil {
			opened = append(opened, shared)
			sharedErr = shared.Fill(ctx, preload)
		}
	})
	if sharedErr != nil {
		b.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, env := range opened {
		if err := env.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing a benchmark deployment:", err)
		}
	}
	os.Exit(code)
}

// BenchmarkPut300 overwrites existing 300-byte entries: read the current
// revision, marshal, seal, write and commit one row (with its fsync).
func BenchmarkPut300(b *testing.B) {
	b.Run(Mode(), func(b *testing.B) {
		env := sharedEnv(b)
		ctx := context.Background()
		// Build the entries (maps, random values) outside the timed loop.
		in := make([]keyward.Entry, preload)
		for i := range in {
			in[i] = Entry(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := env.DB.Put(ctx, in[i%preload]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkGet300 reads 300-byte entries: select one row, open it, and
// unmarshal its fields.
func BenchmarkGet300(b *testing.B) {
	b.Run(Mode(), func(b *testing.B) {
		env := sharedEnv(b)
		ctx := context.Background()
		paths := make([]string, preload)
		for i := range paths {
			paths[i] = Path(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e, err := env.DB.Get(ctx, paths[i%preload])
			if err != nil {
				b.Fatal(err)
			}
			if len(e.Fields) != FieldCount {
				b.Fatalf("%s has %d fields, want %d", e.Path, len(e.Fields), FieldCount)
			}
			i++
		}
	})
}

func TestFieldsAre300Bytes(t *testing.T) {
	for i := range 50 {
		f := Fields(i)
		if len(f) != FieldCount {
			t.Fatalf("entry %d has %d fields, want %d", i, len(f), FieldCount)
		}
		total := 0
		for _, v := range f {
			total += len(v)
		}
		if total != ValueBytes {
			t.Fatalf("entry %d: values total %d bytes, want %d", i, total, ValueBytes)
		}
		if !maps.Equal(f, Fields(i)) {
			t.Fatalf("Fields(%d) differs between calls", i)
		}
	}
	if maps.Equal(Fields(1), Fields(2)) {
		t.Fatal("Fields(1) == Fields(2)")
	}
}

// TestPutGet checks that the benchmarked path works in this build (with or
// without the pass-through tag): what Put stores, Get returns.
func TestPutGet(t *testing.T) {
	ctx := context.Background()
	env, err := NewEnv(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := env.Fill(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e, err := env.DB.Get(ctx, Path(i))
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(e.Fields, Fields(i)) {
			t.Fatalf("entry %d: got other fields back", i)
		}
	}
	// The pass-through build must really store the values in the clear
	// (else the comparison measures nothing), the normal build never.
	found, err := env.ValueInClear(1)
	if err != nil {
		t.Fatal(err)
	}
	if found != crypt.InsecurePassthrough {
		t.Fatalf("mode %s: value found in the clear on disk: %v", Mode(), found)
	}
}
