// Command kwbench runs keyward's benchmarks and prints each result as a
// Markdown table, with the machine and the exact command, ready to paste
// into bench/README.md. It is what `make bench` runs.
//
// Two benchmarks, both measured side by side in one run, interleaved over
// several rounds, because this kind of machine drifts by ±30 % between runs
// and only ratios measured together mean anything:
//
//   - entries: put and get of 300-byte entries through the library on
//     SQLite, encrypted versus a pass-through AEAD
//     (-tags keyward_insecure_passthrough). It runs `go test -bench` on
//     ./bench/entries: first the pass-through build's BenchmarkInterleaved,
//     which holds both kinds of deployment in one process and times them in
//     turn (the goal is judged on it), then the two builds alternately;
//     goal: encryption costs at most 10 %.
//   - attachments: encrypting and decrypting one large random file with
//     keyward's streaming format (crypt.NewWriter / crypt.NewReader), with
//     the full library path (PutAttachment / OpenAttachment on the SQLite store), and
//     with the age CLI (X25519 recipient). Every measured operation is a
//     child process (kwbench re-runs itself for keyward's), timed by the
//     wall clock, with its peak RSS from rusage; every decrypted output is
//     checked against the input's SHA-256. Goal: at least 1.3× age's
//     throughput with a peak RSS under 32 MiB.
//
// Usage:
//
//	go run ./bench/cmd/kwbench [-only entries|attachments] [-rounds N]
//	    [-size 1GiB] [-dir DIR] [-count N] [-benchtime D]
package main

import (
	"flag"
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(childMain(os.Args[2:]))
	}
	only := flag.String("only", "", "run only `entries` or `attachments` (default: both)")
	rounds := flag.Int("rounds", 7, "interleaved rounds per benchmark")
	size := flag.String("size", "1GiB", "attachment file size (B, KiB, MiB, GiB suffixes)")
	dir := flag.String("dir", "", "directory for the attachment files (default: /dev/shm if it has room, else the temp dir)")
	count := flag.Int("count", 2, "entries: go test -count per build and round")
	benchtime := flag.String("benchtime", "1s", "entries: go test -benchtime")
	keep := flag.Bool("keep-outputs", false, "attachments: let each encrypting op overwrite its previous output (the method before 2026-11-22 12:00) instead of writing a new file")
	flag.Parse()
	if flag.NArg() > 0 || *rounds < 1 || *count < 1 || (*only != "" && *only != "entries" && *only != "attachments") {
		flag.Usage()
		os.Exit(2)
	}
	n, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kwbench: -size:", err)
		os.Exit(2)
	}
	printHeader()
	failed := false
	if *only == "" || *only == "entries" {
		if err := runEntries(*rounds, *count, *benchtime); err != nil {
			fmt.Fprintln(os.Stderr, "kwbench: entries:", err)
			failed = true
		}
	}
	if *only == "" || *only == "attachments" {
		if err := runAttachments(*rounds, n, *dir, *keep); err != nil {
			fmt.Fprintln(os.Stderr, "kwbench: attachments:", err)
			failed = true
		}
	}
	fmt.Printf("\nfinished %s, load average %s\n", time.Now().UTC().Format(time.RFC3339), report.LoadAvg())
	if failed {
		os.Exit(1)
	}
}

// printHeader prints what a reader needs to judge the figures.
func printHeader() {
	fmt.Printf("# kwbench %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- command: `%s`\n", strings.Join(append([]string{"kwbench"}, os.Args[1:]...), " "))
	fmt.Printf("- go: %s %s/%s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Printf("- cpu: %s, %d logical CPUs\n", cpuModel(), runtime.NumCPU())
	fmt.Printf("- load average at start: %s\n", report.LoadAvg())
}

// cpuModel reads the CPU model and its AES extensions from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	model, flags := "unknown", ""
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "flags":
			flags = v
		}
	}
	var ext []string
	fs := strings.Fields(flags)
	for _, f := range []string{"aes", "vaes", "vpclmulqdq", "avx2", "avx512f"} {
		if slices.Contains(fs, f) {
			ext = append(ext, f)
		}
	}
	if len(ext) > 0 {
		model += " (" + strings.Join(ext, ", ") + ")"
	}
	return model
}

// parseSize reads a byte count such as 1GiB, 256MiB, 64KiB or 1000.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num {
		return 0, fmt.Errorf("%q is not a size such as 1GiB or 64MiB", s)
	}
	if n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q: size out of range", s)
	}
	return n * mult, nil
}
