//go:build keyward_insecure_passthrough

package entries

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
)

// The interleaved benchmarks compare the two ciphers inside one process:
// this build can make either kind of AEAD (crypt.SetPassthrough), so one
// deployment is made with AES-256-GCM and one with the pass-through, and
// the benchmark times the same operation on each in turn, a block of
// operations at a time, in ABBA order. Both sides run the same binary, on
// the same heap, at the same minutes, so the machine's drift (±30 % here,
// from one second to the next) weighs on both alike; two separate builds
// timed one after the other cannot cancel it.

// Sides of an interleaved pair.
const (
	sideEncrypted = iota
	sidePassthrough
)

// newPair makes two deployments in parent, side i with a pass-through
// AEAD if passthrough[i] and AES-256-GCM otherwise, each filled with n
// entries, and checks on disk that each is what it says. It leaves crypt
// building pass-through AEADs, this build's default.
func newPair(ctx context.Context, parent string, n int, passthrough [2]bool) (envs [2]*Env, err error) {
	defer crypt.SetPassthrough(true)
	defer func() {
		if err != nil {
			closePair(envs)
		}
	}()
	for side, pt := range passthrough {
		crypt.SetPassthrough(pt)
		if envs[side], err = NewEnv(ctx, parent); err != nil {
			return envs, err
		}
		if err = envs[side].Fill(ctx, n); err != nil {
			return envs, err
		}
		inClear, err := envs[side].ValueInClear(0)
		if err != nil {
			return envs, err
		}
		if inClear != pt {
			return envs, fmt.Errorf("deployment made with passthrough=%v has values in the clear on disk: %v", pt, inClear)
		}
	}
	return envs, nil
}

func closePair(envs [2]*Env) {
	for _, e := range envs {
		if e != nil {
			e.Close()
		}
	}
}

// Kinds of pair: the comparison, and the control that compares two
// encrypted deployments (it should read 1.00: any other figure is the
// method's own bias).
var (
	encVsPassthrough = [2]bool{false, true}
	encVsEnc         = [2]bool{false, false}
)

var (
	pairsMu sync.Mutex
	pairs   = map[[2]bool][2]*Env{}
)

// sharedPair returns the pair of that kind all interleaved benchmarks of
// this process use, made on first use; TestMain closes it.
func sharedPair(b *testing.B, kind [2]bool) [2]*Env {
	b.Helper()
	pairsMu.Lock()
	defer pairsMu.Unlock()
	if p, ok := pairs[kind]; ok {
		return p
	}
	p, err := newPair(context.Background(), os.Getenv(dirEnv), preload, kind)
	if err != nil {
		b.Fatal(err)
	}
	pairs[kind] = p
	opened = append(opened, p[:]...)
	return p
}

// abbaSide returns which side runs block k: A B B A A B B A …
func abbaSide(k int) int { return (k + 1) / 2 % 2 }

// interleave runs op on the two deployments in turn, block operations at a
// time, and reports each side's ns/op and their ratio as metrics named
// after the sides (enc-ns/op, pt-ns/op, enc/pt). op gets the side's own
// operation count, so each side walks all entries.
func interleave(b *testing.B, envs [2]*Env, names [2]string, block int, op func(env *Env, i int) error) {
	var spent [2]time.Duration
	var done [2]int
	side, inBlock, blocks := sideEncrypted, 0, 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := op(envs[side], done[side]+inBlock); err != nil {
			b.Fatal(err)
		}
		inBlock++
		if inBlock == block {
			now := time.Now()
			spent[side] += now.Sub(start)
			done[side] += inBlock
			start, inBlock = now, 0
			blocks++
			side = abbaSide(blocks)
		}
	}
	spent[side] += time.Since(start)
	done[side] += inBlock
	if done[sideEncrypted] == 0 || done[sidePassthrough] == 0 {
		b.Fatalf("too short to time both sides (%d and %d operations): raise -benchtime", done[0], done[1])
	}
	a := float64(spent[0].Nanoseconds()) / float64(done[0])
	z := float64(spent[1].Nanoseconds()) / float64(done[1])
	b.ReportMetric(a, names[0]+"-ns/op")
	b.ReportMetric(z, names[1]+"-ns/op")
	b.ReportMetric(a/z, names[0]+"/"+names[1])
}

// BenchmarkInterleaved times Put300 and Get300 (as BenchmarkPut300 and
// BenchmarkGet300 do) on the encrypted and the pass-through deployment in
// turn. Put blocks are 8 operations (≈ 3 ms with their fsyncs), Get blocks
// 64 (≈ 0.5 ms).
func BenchmarkInterleaved(b *testing.B) {
	benchPair(b, encVsPassthrough, [2]string{"enc", "pt"})
}

// BenchmarkInterleavedControl is the same with two encrypted deployments:
// the A/A control of the method (its a/b should be 1.00).
func BenchmarkInterleavedControl(b *testing.B) {
	benchPair(b, encVsEnc, [2]string{"a", "b"})
}

func benchPair(b *testing.B, kind [2]bool, names [2]string) {
	ctx := context.Background()
	b.Run("Put300", func(b *testing.B) {
		in := make([]keyward.Entry, preload)
		for i := range in {
			in[i] = Entry(i)
		}
		interleave(b, sharedPair(b, kind), names, 8, func(env *Env, i int) error {
			_, err := env.DB.Put(ctx, in[i%preload])
			return err
		})
	})
	b.Run("Get300", func(b *testing.B) {
		paths := make([]string, preload)
		for i := range paths {
			paths[i] = Path(i)
		}
		interleave(b, sharedPair(b, kind), names, 64, func(env *Env, i int) error {
			e, err := env.DB.Get(ctx, paths[i%preload])
			if err == nil && len(e.Fields) != FieldCount {
				err = fmt.Errorf("%s has %d fields, want %d", e.Path, len(e.Fields), FieldCount)
			}
			return err
		})
	})
}

// TestInterleavedPair checks what the interleaved benchmarks rely on: the
// encrypted deployment stores no value in the clear and the pass-through
// one does (newPair checks both on disk), and both still read and write
// after crypt is back to building pass-through AEADs.
func TestInterleavedPair(t *testing.T) {
	ctx := context.Background()
	envs, err := newPair(ctx, t.TempDir(), 3, encVsPassthrough)
	if err != nil {
		t.Fatal(err)
	}
	defer closePair(envs)
	for side, env := range envs {
		if _, err := env.DB.Put(ctx, Entry(1)); err != nil {
			t.Fatalf("side %d: put: %v", side, err)
		}
		for i := range 3 {
			if _, err := env.DB.Get(ctx, Path(i)); err != nil {
				t.Fatalf("side %d: get %d: %v", side, i, err)
			}
		}
	}
	if clear, err := envs[sideEncrypted].ValueInClear(1); err != nil || clear {
		t.Fatalf("encrypted side after a put: value in the clear %v, %v", clear, err)
	}
	got := []int{}
	for k := range 8 {
		got = append(got, abbaSide(k))
	}
	if fmt.Sprint(got) != "[0 1 1 0 0 1 1 0]" {
		t.Fatalf("abbaSide order = %v", got)
	}
}
