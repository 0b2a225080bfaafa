// Command kwregen measures key regeneration on SQLite: entries re-encrypted
// per second online (while goroutines read entries with Database.Get) and
// offline, each beside a plain rewrite of the same rows without crypto
// (the same query, batch size and transaction pattern: read a batch by id,
// write it back under compare-and-swap with the job's cursor) measured in
// the same run. It prints a Markdown table for bench/README.md.
//
// Usage:
//
//	go run ./bench/cmd/kwregen [-n 1000000] [-readers 4] [-dir DIR]
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
	readers := flag.Int("readers", 4, "goroutines reading during the online run")
	dir := flag.String("dir", "", "work directory (default: a new temp dir, removed at the end)")
	flag.Parse()
	if err := run(*n, *readers, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "kwregen:", err)
		os.Exit(1)
	}
}

func run(n, readers int, dir string) error {
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
	type row struct {
		mode         string
		batch        int
		regen, plain float64
		moved        float64 // plain rewrite that also changes key_version
		reads        float64
	}
	var rows []row
	for _, offline := range []bool{false, true} {
		batch := 500
		if offline {
			batch = 5000
		}
		plain, err := plainRewrite(ctx, st, db, batch, 0)
		if err != nil {
			return err
		}
		// There and back: the second sweep puts the versions back for the
		// regeneration; the rate counts both.
		there, err := plainRewrite(ctx, st, db, batch, versionShift)
		if err != nil {
			return err
		}
		back, err := plainRewrite(ctx, st, db, batch, -versionShift)
		if err != nil {
			return err
		}
		moved := 2 / (1/there + 1/back)
		rate, reads, err := regenerate(ctx, kw, db, n, offline, readers)
		if err != nil {
			return err
		}
		mode := "online, " + fmt.Sprint(readers) + " readers"
		if offline {
			mode = "offline"
		}
		rows = append(rows, row{mode, batch, rate, plain, moved, reads})
	}
	fmt.Printf("Key regeneration of %d 300-byte entries on SQLite (%s/%s, %d CPUs, %s)\n\n",
		n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().Format("2006-01-02"))
	fmt.Println("| mode | batch | regenerate (entries/s) | plain rewrite (entries/s) | ratio | plain rewrite changing key_version (entries/s) | ratio to it | reads/s during the run |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		reads := "—"
		if r.reads > 0 {
			reads = fmt.Sprintf("%.0f", r.reads)
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.2f× | %.0f | %.2f× | %s |\n", r.mode, r.batch, r.regen, r.plain, r.regen/r.plain,
			r.moved, r.regen/r.moved, reads)
	}
	fmt.Printf("\ncommand: go run ./bench/cmd/kwregen -n %d -readers %d\n", n, readers)
	return nil
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

// versionShift moves key versions out of the way of real ones in the plain
// rewrite that changes key_version.
const versionShift = 1 << 20

// plainRewrite rewrites every entry of db with its own ciphertext through
// the same store calls a regeneration makes, without opening or sealing
// anything. With shift 0 each row keeps its key version, which a
// regeneration cannot do; otherwise each row's key version moves by shift,
// so the entries_key_version index entry of every row changes as in a
// regeneration (the ciphertext no longer matches its version until a sweep
// with -shift puts it back).
func plainRewrite(ctx context.Context, st *sqlite.Store, db *keyward.Database, batch int, shift int64) (float64, error) {
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
			rw[i] = store.EntryRewrite{ID: e.ID, Revision: e.Revision, OldVersion: e.KeyVersion, NewVersion: uint32(int64(e.KeyVersion) + shift), Ciphertext: e.Ciphertext}
		}
		after = rows[len(rows)-1].ID
		cursor := fmt.Sprintf(`{"after":%q}`, after)
		if _, err := st.RewriteEntries(ctx, l, rw, func([]bool) store.JobProgress {
			return store.JobProgress{Cursor: cursor, Counts: fmt.Sprintf(`{"done":%d}`, done+len(rows))}
		}); err != nil {
			return 0, err
		}
		done += len(rows)
	}
	_, err = st.SetJobState(ctx, id, []store.JobState{store.JobRunning}, store.JobDone, "")
	return float64(done) / time.Since(start).Seconds(), err
}

// regenerate runs a regeneration and returns the entries re-encrypted per
// second in its first pass (the settling wait and verifying pass after it
// are not counted) and the reads per second done meanwhile.
func regenerate(ctx context.Context, kw *keyward.Keyward, db *keyward.Database, n int, offline bool, readers int) (float64, float64, error) {
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, Offline: offline})
	if err != nil {
		return 0, 0, err
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	if !offline {
		for r := range readers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), 7))
				for !stop.Load() {
					if _, err := db.Get(ctx, path(rng.IntN(n))); err == nil {
						reads.Add(1)
					}
				}
			})
		}
	}
	start := time.Now()
	var firstPass time.Duration
	var doneEntries int64
	err = kw.RunJob(ctx, job.ID, func(p keyward.JobProgress) {
		if p.Pass == 0 && p.Phase == "entries" {
			firstPass, doneEntries = time.Since(start), p.Done
			if p.Done >= int64(n) {
				stop.Store(true)
			}
		}
	})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(os.Stderr, "kwregen: regenerate offline=%v: %d entries in %v\n", offline, doneEntries, firstPass.Round(time.Millisecond))
	return float64(doneEntries) / firstPass.Seconds(), float64(reads.Load()) / firstPass.Seconds(), nil
}
