// Command kwregen measures key regeneration on SQLite: entries re-encrypted
// per second online (while goroutines read entries with Database.Get) and
// offline, each beside a plain rewrite of the same rows without crypto
// measured in the same run. It prints a Markdown table for bench/README.md.
//
// The plain rewrite goes through the same store calls, batch size and
// transaction pattern as a regeneration (read a batch by id, write it back
// under compare-and-swap with the job's cursor), writing each row's
// ciphertext with every byte inverted, so that it has to write new bytes
// as a regeneration does; a second sweep inverts them back, and the rate
// counts both. (Writing back identical bytes is no baseline: SQLite then
// leaves the page untouched and writes nothing; that rate is shown too.)
// In the online mode the plain rewrite is measured twice: alone, which is
// the baseline of the goal, and with the same readers as the
// regeneration.
//
// Usage:
//
//	go run ./bench/cmd/kwregen [-n 1000000] [-readers 4] [-read-rate 5000] [-dir DIR] [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

func main() {
	n := flag.Int("n", 1_000_000, "entries of 300 bytes")
	readers := flag.Int("readers", 4, "goroutines reading during the online runs")
	readRate := flag.Int("read-rate", 5000, "reads per second in the paced online run (0: leave it out)")
	dir := flag.String("dir", "", "work directory (default: a new temp dir, removed at the end)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the measured part (after the fill) to this file")
	flag.Parse()
	cpuProfile = *profile
	if err := run(*n, *readers, *readRate, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "kwregen:", err)
		os.Exit(1)
	}
}

// cpuProfile is the -cpuprofile flag.
var cpuProfile string

func run(n, readers, readRate int, dir string) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "kwregen")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfg := keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}
	if _, err := keyward.Init(ctx, cfg); err != nil {
		return err
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer kw.Close()
	db, err := kw.CreateDatabase(ctx, "bench")
	if err != nil {
		return err
	}
	start := time.Now()
	if err := fill(ctx, db, n); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kwregen: filled %d entries in %v\n", n, time.Since(start).Round(time.Millisecond))
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, keyward.DBFile))
	if err != nil {
		return err
	}
	defer st.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	loads := []readLoad{{readers: readers}}
	if readRate > 0 {
		// Enough goroutines that each waits 4 ms or more between reads
		// (shorter sleeps overshoot and the rate falls short).
		loads = append(loads, readLoad{readers: max(readers, readRate/250), rate: readRate})
	}
	loads = append(loads, readLoad{offline: true})
	type row struct {
		load                  readLoad
		batch                 int
		regen, plain, same    float64
		plainWithReads        float64
		plainReads, regenRead float64 // reads/s during the plain rewrite with reads and the regeneration
	}
	var rows []row
	alone := map[int][2]float64{} // batch size: plain rewrite alone, identical bytes
	for _, load := range loads {
		r := row{load: load, batch: 500}
		if load.offline {
			r.batch = 5000
		}
		if _, ok := alone[r.batch]; !ok {
			plain, err := plainSweeps(ctx, st, db, r.batch)
			if err != nil {
				return err
			}
			same, err := plainRewrite(ctx, st, db, r.batch, false)
			if err != nil {
				return err
			}
			alone[r.batch] = [2]float64{plain, same}
		}
		r.plain, r.same = alone[r.batch][0], alone[r.batch][1]
		var err error
		if !load.offline {
			stop := load.start(ctx, db, n)
			r.plainWithReads, err = plainSweeps(ctx, st, db, r.batch)
			r.plainReads = stop()
			if err != nil {
				return err
			}
		}
		if r.regen, r.regenRead, err = regenerate(ctx, kw, db, n, load); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	fmt.Printf("Key regeneration of %d 300-byte entries on SQLite (%s/%s, %d CPUs, %s)\n\n",
		n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().Format("2006-01-02"))
	fmt.Println("| mode | batch | regenerate (entries/s) | plain rewrite alone (entries/s) | ratio | plain rewrite with the same reads (entries/s) | ratio to it | reads/s: regeneration, plain | identical bytes (entries/s, no write) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---:|")
	for _, r := range rows {
		with, ratio, reads := "—", "—", "—"
		if !r.load.offline {
			with = fmt.Sprintf("%.0f", r.plainWithReads)
			ratio = fmt.Sprintf("%.2f×", r.regen/r.plainWithReads)
			reads = fmt.Sprintf("%.0f, %.0f", r.regenRead, r.plainReads)
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.2f× | %s | %s | %s | %.0f |\n", r.load, r.batch, r.regen, r.plain, r.regen/r.plain,
			with, ratio, reads, r.same)
	}
	fmt.Printf("\ncommand: go run ./bench/cmd/kwregen -n %d -readers %d -read-rate %d\n", n, readers, readRate)
	return nil
}

// readLoad is the reading done during an online run: readers goroutines
// calling Database.Get on random entries, as fast as they can (rate 0) or
// together at rate reads per second.
type readLoad struct {
	offline bool
	readers int
	rate    int
}

func (l readLoad) String() string {
	switch {
	case l.offline:
		return "offline"
	case l.rate > 0:
		return fmt.Sprintf("online, %d readers at %d reads/s in all", l.readers, l.rate)
	default:
		return fmt.Sprintf("online, %d readers as fast as they go", l.readers)
	}
}

// plainSweeps runs the plain rewrite twice (bytes inverted, then back) and
// returns the rate over both.
func plainSweeps(ctx context.Context, st *sqlite.Store, db *keyward.Database, batch int) (float64, error) {
	there, err := plainRewrite(ctx, st, db, batch, true)
	if err != nil {
		return 0, err
	}
	back, err := plainRewrite(ctx, st, db, batch, true)
	if err != nil {
		return 0, err
	}
	return 2 / (1/there + 1/back), nil
}

// start starts the reads until the returned function is called; it
// returns the reads per second. A read counts whether or not it decrypted:
// during the plain rewrite the ciphertext is inverted, and the read does
// the same work up to the failed authentication. Paced readers each wait
// for their next slot (readers/rate apart), skipping slots they missed.
func (l readLoad) start(ctx context.Context, db *keyward.Database, n int) (stop func() float64) {
	var halt atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for r := range l.readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			var every time.Duration
			if l.rate > 0 {
				every = time.Duration(float64(time.Second) * float64(l.readers) / float64(l.rate))
			}
			next := start.Add(every * time.Duration(r) / time.Duration(l.readers))
			for !halt.Load() {
				if every > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(every)
					if late := time.Since(next); late > every {
						next = next.Add(late.Truncate(every)) // skip missed slots
					}
				}
				_, _ = db.Get(ctx, path(rng.IntN(n)))
				reads.Add(1)
			}
		})
	}
	return func() float64 {
		halt.Store(true)
		wg.Wait()
		return float64(reads.Load()) / time.Since(start).Seconds()
	}
}

func path(i int) string { return fmt.Sprintf("bench/%07d", i) }

func fill(ctx context.Context, db *keyward.Database, n int) error {
	const workers = 32
	value := strings.Repeat("v", 290)
	var wg sync.WaitGroup
	var first atomic.Value
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := db.Create(ctx, keyward.Entry{Path: path(i), Fields: map[string]string{"v": value}}); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

// plainRewrite rewrites every entry of db through the same store calls a
// regeneration makes, without opening or sealing anything. With invert,
// every byte of each row's ciphertext is inverted, so the row really
// changes (a second call puts it back); otherwise the row is written back
// as it is, which SQLite turns into no write at all. Key versions stay.
func plainRewrite(ctx context.Context, st *sqlite.Store, db *keyward.Database, batch int, invert bool) (float64, error) {
	dbID, err := st.Database(ctx, db.Name())
	if err != nil {
		return 0, err
	}
	id := fmt.Sprintf("plain-%d", time.Now().UnixNano())
	if _, err := st.CreateJob(ctx, store.Job{ID: id, Kind: "bench-plain", State: store.JobRunning, Spec: "{}"}); err != nil {
		return 0, err
	}
	l := store.JobLease{JobID: id, Owner: "kwregen"}
	if _, err := st.AcquireJob(ctx, id, l.Owner, time.Hour); err != nil {
		return 0, err
	}
	start, after, done := time.Now(), "", 0
	for {
		rows, err := st.EntriesBelow(ctx, dbID.ID, math.MaxUint32, after, batch)
		if err != nil {
			return 0, err
		}
		if len(rows) == 0 {
			break
		}
		rw := make([]store.EntryRewrite, len(rows))
		for i, e := range rows {
			if invert {
				for k := range e.Ciphertext {
					e.Ciphertext[k] ^= 0xff
				}
			}
			rw[i] = store.EntryRewrite{ID: e.ID, Revision: e.Revision, OldVersion: e.KeyVersion, NewVersion: e.KeyVersion, Ciphertext: e.Ciphertext}
		}
		after = rows[len(rows)-1].ID
		cursor := fmt.Sprintf(`{"after":%q}`, after)
		applied, err := st.RewriteEntries(ctx, l, rw, func([]bool) store.JobProgress {
			return store.JobProgress{Cursor: cursor, Counts: fmt.Sprintf(`{"done":%d}`, done+len(rows))}
		})
		if err != nil {
			return 0, err
		}
		for _, ok := range applied {
			if !ok {
				return 0, fmt.Errorf("plain rewrite: a row changed under it (nothing else writes here)")
			}
		}
		done += len(rows)
	}
	_, err = st.SetJobState(ctx, id, []store.JobState{store.JobRunning}, store.JobDone, "")
	return float64(done) / time.Since(start).Seconds(), err
}

// regenerate runs a regeneration and returns the entries re-encrypted per
// second in its first pass (the settling wait and verifying pass after it
// are not counted) and the reads per second done meanwhile.
func regenerate(ctx context.Context, kw *keyward.Keyward, db *keyward.Database, n int, load readLoad) (float64, float64, error) {
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, Offline: load.offline})
	if err != nil {
		return 0, 0, err
	}
	stop := func() float64 { return 0 }
	if !load.offline {
		stop = load.start(ctx, db, n)
	}
	var once sync.Once
	var readRate float64
	stopOnce := func() { once.Do(func() { readRate = stop() }) }
	start := time.Now()
	var firstPass time.Duration
	var doneEntries int64
	err = kw.RunJob(ctx, job.ID, func(p keyward.JobProgress) {
		if p.Pass == 0 && p.Phase == "entries" {
			firstPass, doneEntries = time.Since(start), p.Done
			if p.Done >= int64(n) {
				stopOnce()
			}
		}
	})
	stopOnce()
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(os.Stderr, "kwregen: regenerate, %s: %d entries in %v\n", load, doneEntries, firstPass.Round(time.Millisecond))
	return float64(doneEntries) / firstPass.Seconds(), readRate, nil
}
