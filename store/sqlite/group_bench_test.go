package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/entries"
	"github.com/keyward/keyward/store/sqlite"
)

// BenchmarkPutConcurrent writes 300-byte entries through keyward's
// Database.Put (read the revision, seal, PutEntry) from 1, 16 and 64
// goroutines, with group commit ("group") and with one transaction per write
// ("single", the path before group commit), one after the other at each
// level. Compare them over several runs in alternate order (bench/README.md):
//
//	for o in group-first single-first group-first single-first; do
//		KWBENCH_ORDER=$o go test -run '^$' -bench PutConcurrent -benchtime 2s ./store/sqlite
//	done
//
// Every goroutine overwrites its own 16 entries round robin, so writers do
// not conflict. Besides ns/op (wall time per
// write, all goroutines together) it reports ops/s, the 99th percentile of
// one Put's latency (p99-ms), writes per commit (ops/commit, 1 on the
// single path) and the number of goroutines. $KWBENCH_DIR chooses where the
// deployment lives (default: the system temporary directory);
// KWBENCH_ORDER=single-first runs the single path first at each level, so
// that alternate runs cancel out any advantage of going first.
func BenchmarkPutConcurrent(b *testing.B) {
	// One deployment per path, filled before any timing, so that both
	// measure a warm store (its log file already grown and reused, as in a
	// long-running server), not the first writes to a new file.
	envs := map[bool]*entries.Env{}
	for _, grouped := range []bool{true, false} {
		envs[grouped] = warmEnv(b, grouped)
	}
	order := []bool{true, false}
	if os.Getenv("KWBENCH_ORDER") == "single-first" {
		order = []bool{false, true}
	}
	for _, conc := range []int{1, 16, 64} {
		for _, grouped := range order {
			name := "single"
			if grouped {
				name = "group"
			}
			b.Run(fmt.Sprintf("c%d/%s", conc, name), func(b *testing.B) { benchPut(b, envs[grouped], conc, grouped) })
		}
	}
}

// perWriter is how many entries each goroutine overwrites; maxWriters
// goroutines at most have entries of their own.
const perWriter, maxWriters = 16, 64

// warmEnv makes a deployment whose store has group commit on or off, and
// writes every benchmark entry into it warmPasses times from one goroutine:
// one commit per write on both paths, so that both logs have grown to their
// working size (1,000 pages) and wrapped in the same way before any timing.
func warmEnv(b *testing.B, grouped bool) *entries.Env {
	restore := sqlite.SetGroupCommit(grouped)
	defer restore()
	ctx := context.Background()
	env, err := entries.NewEnv(ctx, os.Getenv("KWBENCH_DIR"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { env.Close() })
	for i := range warmPasses * maxWriters * perWriter {
		if _, err := env.DB.Put(ctx, entries.Entry(i%(maxWriters*perWriter))); err != nil {
			b.Fatal(err)
		}
	}
	return env
}

const warmPasses = 3

func benchPut(b *testing.B, env *entries.Env, conc int, grouped bool) {
	ctx := context.Background()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((conc + procs - 1) / procs) // RunParallel starts parallelism × GOMAXPROCS goroutines
	// Entries (maps of random values) are built outside the timed loop.
	in := make([]keyward.Entry, maxWriters*perWriter)
	for i := range in {
		in[i] = entries.Entry(i)
	}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		latency []time.Duration
	)
	ops0, batches0 := sqlite.GroupCounters()
	b.ResetTimer()
	if conc == 1 { // RunParallel starts at least GOMAXPROCS goroutines
		next.Store(1)
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			if _, err := env.DB.Put(ctx, in[i%perWriter]); err != nil {
				b.Fatal(err)
			}
			latency = append(latency, time.Since(start))
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			g := int(next.Add(1)-1) % maxWriters
			mine := make([]time.Duration, 0, 1024)
			for i := 0; pb.Next(); i++ {
				start := time.Now()
				if _, err := env.DB.Put(ctx, in[g*perWriter+i%perWriter]); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latency = append(latency, mine...)
			mu.Unlock()
		})
	}
	b.StopTimer()
	ops, batches := sqlite.GroupCounters()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(next.Load()), "goroutines")
	if len(latency) > 0 {
		slices.Sort(latency)
		p99 := latency[(len(latency)*99)/100]
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	}
	perCommit := 1.0
	if grouped && batches > batches0 {
		perCommit = float64(ops-ops0) / float64(batches-batches0)
	}
	b.ReportMetric(perCommit, "ops/commit")
}

// BenchmarkPutAlone measures what group commit costs a lone writer: one
// goroutine alternates Database.Put between a deployment with group commit
// and one without, write by write (each path first in every other pair), so
// that both see the same disk and load.
// It reports the median and 99th percentile latency of each (group-med-ms,
// single-med-ms, ...) and the ratio of the medians (group/single).
func BenchmarkPutAlone(b *testing.B) {
	envs := [2]*entries.Env{warmEnv(b, true), warmEnv(b, false)}
	ctx := context.Background()
	in := make([]keyward.Entry, perWriter)
	for i := range in {
		in[i] = entries.Entry(i)
	}
	var lat [2][]time.Duration
	for i := 0; b.Loop(); i++ {
		k := i%2 ^ (i/2)%2 // pairs alternate which path goes first
		start := time.Now()
		if _, err := envs[k].DB.Put(ctx, in[(i/2)%perWriter]); err != nil {
			b.Fatal(err)
		}
		lat[k] = append(lat[k], time.Since(start))
	}
	if len(lat[1]) == 0 {
		return
	}
	var med [2]float64
	for k, name := range []string{"group", "single"} {
		slices.Sort(lat[k])
		med[k] = float64(lat[k][len(lat[k])/2].Microseconds()) / 1000
		b.ReportMetric(med[k], name+"-med-ms")
		b.ReportMetric(float64(lat[k][len(lat[k])*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	b.ReportMetric(med[0]/med[1], "group/single")
}
