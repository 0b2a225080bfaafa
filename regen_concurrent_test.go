package keyward_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
)

// Writers run compare-and-swap increments and fresh writes while an online
// regeneration runs: no increment is lost, no fresh write is lost, and no
// entry is left on the old version.
func TestRegenerateConcurrentWriters(t *testing.T) {
	fastJobs(t)
	kw, _, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	const counters = 1500
	for i := range counters {
		if _, err := db.Create(ctx, keyward.Entry{Path: counterPath(i), Fields: map[string]string{"n": "0"}}); err != nil {
			t.Fatal(err)
		}
	}
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 50})
	if err != nil {
		t.Fatal(err)
	}

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		incs    [counters]atomic.Int64
		fresh   atomic.Int64
		failure = make(chan error, 8)
	)
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				i := r.IntN(counters)
				e, err := db.Get(ctx, counterPath(i))
				if err != nil {
					failure <- err
					return
				}
				n, _ := strconv.Atoi(e.Fields["n"])
				_, err = db.Put(ctx, keyward.Entry{Path: counterPath(i), Revision: e.Revision,
					Fields: map[string]string{"n": strconv.Itoa(n + 1)}})
				switch {
				case err == nil:
					incs[i].Add(1)
				case !errors.Is(err, keyward.ErrConflict):
					failure <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			i := fresh.Load()
			if _, err := db.Create(ctx, keyward.Entry{Path: fmt.Sprintf("fresh/%06d", i), Fields: map[string]string{"i": strconv.FormatInt(i, 10)}}); err != nil {
				failure <- err
				return
			}
			fresh.Add(1)
		}
	})
	runErr := kw.RunJob(ctx, job.ID, nil)
	stop.Store(true)
	wg.Wait()
	close(failure)
	for err := range failure {
		t.Errorf("writer: %v", err)
	}
	if runErr != nil {
		t.Fatalf("RunJob() = %v", runErr)
	}
	j, _ := kw.Job(ctx, job.ID)
	if j.State != "done" {
		t.Fatalf("job = %+v, want done", j)
	}
	var total int64
	for i := range counters {
		e, err := db.Get(ctx, counterPath(i))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(e.Fields["n"])
		if int64(n) != incs[i].Load() {
			t.Errorf("counter %d = %d, want %d successful increments", i, n, incs[i].Load())
		}
		total += int64(n)
	}
	for i := range fresh.Load() {
		e, err := db.Get(ctx, fmt.Sprintf("fresh/%06d", i))
		if err != nil || e.Fields["i"] != strconv.FormatInt(i, 10) {
			t.Errorf("fresh write %d = %v, %v", i, e.Fields, err)
		}
	}
	t.Logf("%d increments, %d fresh writes, job: %d entries re-encrypted, %d skipped", total, fresh.Load(),
		j.Progress.Entries, j.Progress.Skipped)
	if total == 0 {
		t.Errorf("no increment succeeded during the job: the test proves nothing")
	}
	onlyOn(t, kw, "app", 2)
	if keys := usage(t, kw, "app"); keys[0].State != "retired" {
		t.Errorf("version 1 is %s, want retired", keys[0].State)
	}
}

func counterPath(i int) string { return fmt.Sprintf("counter/%04d", i) }
