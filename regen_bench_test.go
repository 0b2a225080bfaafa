package keyward_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// benchValue makes entries of about 300 bytes, as in bench/cmd/kwregen.
var benchValue = strings.Repeat("v", 290)

// BenchmarkRegenerateOffline re-encrypts 20,000 entries per iteration
// (offline, batches of 5000), each iteration onto a new key version; the
// metric is entries per second of the first pass. Profile it with
// go test -run '^$' -bench RegenerateOffline -cpuprofile cpu.out.
func BenchmarkRegenerateOffline(b *testing.B) {
	const n = 20_000
	b.Cleanup(keyward.SetJobTiming(time.Millisecond, 30*time.Second))
	ctx := context.Background()
	kw, _, _ := kwtest.Deployment(b, keyward.Config{})
	db, err := kw.CreateDatabase(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := db.Create(ctx, keyward.Entry{Path: entryPath(i), Fields: map[string]string{"v": benchValue}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	var spent time.Duration
	var done int64
	b.ResetTimer()
	for b.Loop() {
		job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, Offline: true})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var first time.Duration
		var moved int64
		err = kw.RunJob(ctx, job.ID, func(p keyward.JobProgress) {
			if p.Pass == 0 && p.Phase == "entries" {
				first, moved = time.Since(start), p.Done
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		if moved != n {
			b.Fatalf("first pass re-encrypted %d entries, want %d", moved, n)
		}
		spent += first
		done += moved
	}
	b.ReportMetric(float64(done)/spent.Seconds(), "entries/s")
}
