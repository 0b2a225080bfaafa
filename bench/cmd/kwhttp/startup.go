package main

import (
	"context"
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// startupGoal is the bound on the time from start to serving.
const startupGoal = 200 * time.Millisecond

// cachedDeployment returns a deployment of n entries kept under cache, made
// (which takes minutes for a million) only if it is not there yet.
func cachedDeployment(cache string, n int) (deployment, error) {
	dir := filepath.Join(cache, fmt.Sprintf("entries-%d", n))
	tokenFile := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(tokenFile); err == nil {
		return deployment{data: filepath.Join(dir, "data"), keys: filepath.Join(dir, "keys"), token: strings.TrimSpace(string(b))}, nil
	}
	os.RemoveAll(dir) // a partial fill from an interrupted run
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return deployment{}, err
	}
	fmt.Fprintf(os.Stderr, "kwhttp: filling a store of %d entries in %s (kept for later runs)\n", n, dir)
	start := time.Now()
	d, err := newDeployment(context.Background(), dir, n)
	if err != nil {
		return d, err
	}
	fmt.Fprintf(os.Stderr, "kwhttp: filled in %s\n", time.Since(start).Round(time.Second))
	return d, os.WriteFile(tokenFile, []byte(d.token+"\n"), 0o600)
}

func runStartup(work, bin string, rounds, n int, cache string) error {
	small, err := newDeployment(context.Background(), filepath.Join(work, "startup-small"), 1000)
	if err != nil {
		return err
	}
	large, err := cachedDeployment(cache, n)
	if err != nil {
		return err
	}
	stores := []struct {
		name string
		d    deployment
		n    int
	}{{"small", small, 1000}, {"large", large, n}}
	times := map[string][]float64{}
	for r := range rounds + 1 { // round 0 warms the page cache and is not counted
		for _, s := range stores {
			srv, err := startServer(bin, s.d, filepath.Join(work, "serve-startup.log"))
			if err != nil {
				return err
			}
			start := time.Now()
			took, err := srv.waitHealthy(start, time.Minute)
			if stopErr := srv.stop(); err == nil {
				err = stopErr
			}
			if err != nil {
				return fmt.Errorf("%d entries: %w", s.n, err)
			}
			if r > 0 {
				times[s.name] = append(times[s.name], float64(took))
				fmt.Fprintf(os.Stderr, "kwhttp: round %d: %d entries: healthy after %s\n", r, s.n, took.Round(time.Millisecond))
			}
		}
	}
	fmt.Printf("\n## Start to serving\n\n")
	fmt.Printf("Time from starting `keyward serve` (auto master key: no passphrase KDF) until GET /v1/sys/health answers 200, polled every millisecond; page cache warm (one uncounted round first); median of %d rounds.\n\n", rounds)
	fmt.Println("| entries stored | start → healthy | goal | met? |")
	fmt.Println("|---:|---:|---|---|")
	for _, s := range stores {
		m := time.Duration(report.Median(times[s.name]))
		goal, met := "—", "—"
		if s.name == "large" {
			goal, met = fmt.Sprintf("≤ %s", startupGoal), report.YesNo(m <= startupGoal)
		}
		fmt.Printf("| %d | %s | %s | %s |\n", s.n, m.Round(time.Millisecond), goal, met)
	}
	return nil
}
