// Command kwhttp measures keyward's HTTP server as operators will run it:
// the real `keyward serve` binary on a loopback port, driven by wrk (Debian
// package `wrk`) on the same machine, with keep-alive connections.
//
// Two benchmarks, each printed as a Markdown table for bench/README.md:
//
//   - http: GET and PUT of 300-byte entries (the fields of
//     bench/entries), at concurrency 16 and 64, req/s with p50 and p99,
//     over several interleaved rounds (medians reported). The goal is at
//     least twice what OpenBao's KV v2 served on this machine kind under
//     the same load (reference figures in the issue, fixed below), at a
//     lower p99.
//   - startup: the time from starting `keyward serve` on a store that holds
//     N entries (default 1,000,000) until /v1/sys/health answers 200, next
//     to the same on a store of 1,000 entries; goal: within 200 ms.
//
// Usage:
//
//	go run ./bench/cmd/kwhttp [-only http|startup] [-rounds 3] [-duration 10s]
//	    [-startup-entries 1000000] [-cache DIR]
package main

import (
	"flag"
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	only := flag.String("only", "", "run only `http` or `startup` (default: both)")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	duration := flag.Duration("duration", 10*time.Second, "http: wrk duration per cell and round")
	entries := flag.Int("entries", 1000, "http: entries in the store (GET reads them at random, PUT overwrites them)")
	startupN := flag.Int("startup-entries", 1_000_000, "startup: entries in the large store")
	cache := flag.String("cache", filepath.Join(os.TempDir(), "kwhttp-cache"), "startup: where the large store is kept between runs (it takes minutes to fill)")
	flag.Parse()
	if flag.NArg() > 0 || *rounds < 1 || (*only != "" && *only != "http" && *only != "startup") {
		flag.Usage()
		os.Exit(2)
	}
	work, err := os.MkdirTemp("", "kwhttp-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "keyward")
	fmt.Fprintln(os.Stderr, "kwhttp: building keyward")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyward")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fatal(fmt.Errorf("go build ./cmd/keyward (run kwhttp from the repository root): %w", err))
	}

	fmt.Printf("# kwhttp %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- command: `%s`\n", strings.Join(append([]string{"kwhttp"}, os.Args[1:]...), " "))
	fmt.Printf("- go: %s %s/%s, %d logical CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("- load average at start: %s\n", report.LoadAvg())
	failed := false
	if *only == "" || *only == "http" {
		if err := runHTTP(work, bin, *rounds, *duration, *entries); err != nil {
			fmt.Fprintln(os.Stderr, "kwhttp: http:", err)
			failed = true
		}
	}
	if *only == "" || *only == "startup" {
		if err := runStartup(work, bin, *rounds, *startupN, *cache); err != nil {
			fmt.Fprintln(os.Stderr, "kwhttp: startup:", err)
			failed = true
		}
	}
	fmt.Printf("\nfinished %s, load average %s\n", time.Now().UTC().Format(time.RFC3339), report.LoadAvg())
	if failed {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "kwhttp:", err)
	os.Exit(1)
}
