package keyward_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// crashEnv carries "dataDir|keyDir|jobID" to the child process of
// TestRegenerateCrash.
const crashEnv = "KEYWARD_TEST_REGEN_CHILD"

// The child: run the job until it is done, taking the lease over from the
// process killed before it.
func init() {
	spec, ok := os.LookupEnv(crashEnv)
	if !ok {
		return
	}
	os.Exit(crashChild(spec))
}

func crashChild(spec string) int {
	parts := strings.Split(spec, "|")
	keyward.SetJobTiming(300*time.Millisecond, 400*time.Millisecond)
	ctx := context.Background()
	kw, err := keyward.Open(ctx, keyward.Config{DataDir: parts[0], KeyDir: parts[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	defer kw.Close()
	for {
		err = kw.RunJob(ctx, parts[2], func(keyward.JobProgress) {
			fmt.Println("batch") // the parent kills at a random moment after this
		})
		if !errors.Is(err, keyward.ErrConflict) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the killed holder's lease has not expired yet
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 4
	}
	fmt.Println("finished")
	return 0
}

// TestRegenerateCrash kills the process running a regeneration with
// SIGKILL at random moments, at least 20 times, resumes it each time in a
// new process, and proves at the end that every entry and attachment
// decrypts to its original value and nothing is left on the old version.
func TestRegenerateCrash(t *testing.T) {
	entries, attachments, kills := 20_000, 50, 24
	if testing.Short() {
		entries, kills = 3_000, 20
	}
	kw, cfg, _ := setup(t)
	ctx := t.Context()
	db := mustDB(t, kw, "app")
	fillParallel(t, db, entries)
	attachAll(t, db, attachments)
	job, err := kw.Regenerate(ctx, keyward.RegenerateOptions{NoBackup: true, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.Close(); err != nil {
		t.Fatal(err)
	}

	killed, finished := 0, false
	for run := 0; !finished; run++ {
		if run > kills+20 {
			t.Fatalf("the job did not finish after %d runs", run)
		}
		cmd := osexec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+cfg.DataDir+"|"+cfg.KeyDir+"|"+job.ID)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var once sync.Once
		var lines []string
		// A random moment soon after the 1st to 3rd batch of this run: the
		// kill lands inside one of the next few batches however fast the
		// machine is, so the job (200 batches by default) lasts for more
		// than `kills` runs. (A delay of up to 120 ms after the first batch
		// let a fast run do ten batches and finish the job with 19 kills.)
		killAfter, batches := 1+rand.IntN(3), 0
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "batch" {
				batches++
			}
			if killed < kills && batches == killAfter {
				once.Do(func() {
					time.AfterFunc(time.Duration(rand.IntN(10_000))*time.Microsecond, func() {
						_ = cmd.Process.Signal(syscall.SIGKILL)
					})
				})
			}
		}
		err = cmd.Wait()
		var ee *osexec.ExitError
		switch {
		case err == nil:
			finished = len(lines) > 0 && lines[len(lines)-1] == "finished"
		case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
			killed++
		default:
			t.Fatalf("child run %d: %v\n%s", run, err, stderr.String())
		}
	}
	if killed < 20 {
		t.Errorf("%d kills, want at least 20", killed)
	}
	t.Logf("%d entries, %d attachments, %d kills", entries, attachments, killed)

	kw, err = keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	j, err := kw.Job(ctx, job.ID)
	if err != nil || j.State != "done" || j.Progress.FailedCount != 0 {
		t.Fatalf("job = %+v, %v; want done without failures", j, err)
	}
	db, err = kw.Database(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, db, entries, attachments)
	onlyOn(t, kw, "app", 2)
	if keys := usage(t, kw, "app"); keys[0].State != "retired" {
		t.Errorf("version 1 is %s, want retired", keys[0].State)
	}
}

// fillParallel writes entries 0..n-1 from several goroutines (their writes
// share commits).
func fillParallel(t *testing.T, db *keyward.Database, n int) {
	t.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := db.Create(t.Context(), keyward.Entry{Path: entryPath(i), Fields: map[string]string{"v": value(i)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
