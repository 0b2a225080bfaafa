package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// passthroughTag builds crypt with a pass-through AEAD (bench only).
const passthroughTag = "keyward_insecure_passthrough"

// entriesPkg is the benchmark package, relative to the module root.
const entriesPkg = "./bench/entries"

// entriesGoal is the largest acceptable encrypted/pass-through ns/op ratio.
const entriesGoal = 1.10

// The two builds, as named by the sub-benchmarks of bench/entries.
const (
	modeEncrypted   = "encrypted"
	modePassthrough = "passthrough"
)

// benchLine matches one result line of go test -bench, e.g.
// "BenchmarkPut300/encrypted-2  1705  1377077 ns/op  6104 B/op  129 allocs/op":
// the name without its -GOMAXPROCS suffix, the iteration count, and the
// metrics as value-unit pairs.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// benchResult is one result line: the benchmark's name below "Benchmark"
// (Put300/encrypted, Interleaved/Get300) and its metrics by unit (ns/op,
// B/op, allocs/op and any custom metric such as enc/pt).
type benchResult struct {
	name    string
	metrics map[string]float64
}

// parseBench returns the result lines of go test -bench output. A line
// whose metrics do not read as value-unit pairs is not a result.
func parseBench(out []byte) []benchResult {
	var rs []benchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if len(f) == 0 || len(f)%2 != 0 {
			continue
		}
		r := benchResult{name: m[1], metrics: map[string]float64{}}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				r.metrics = nil
				break
			}
			r.metrics[f[i+1]] = v
		}
		if _, ok := r.metrics["ns/op"]; ok {
			rs = append(rs, r)
		}
	}
	return rs
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the keyward module")
	}
	return filepath.Dir(mod), nil
}

// goTest runs go test -bench in the module root, in the normal build or
// with the pass-through tag, and returns the result lines.
func goTest(root string, tagged bool, bench string, count int, benchtime string) ([]benchResult, error) {
	args := []string{"test", "-run", "^$", "-bench", bench, "-count", strconv.Itoa(count), "-benchtime", benchtime}
	if tagged {
		args = append(args, "-tags", passthroughTag)
	}
	args = append(args, entriesPkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	rs := parseBench(out)
	if len(rs) == 0 {
		return nil, fmt.Errorf("go %s printed no results:\n%s", strings.Join(args, " "), out)
	}
	return rs, nil
}

// runEntries measures the price of encryption on the entries path two
// ways and prints a table for each: both deployments in one process, timed
// in turn (the goal is judged on this one), and the two builds run one
// after the other.
func runEntries(rounds, count int, benchtime string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	fmt.Printf("\n## Entries: 300-byte put/get through the library on SQLite\n\n")
	if err := runInterleaved(root, rounds*count, benchtime); err != nil {
		return err
	}
	return runTwoBuilds(root, rounds, count, benchtime)
}

// interleavedOps are the sub-benchmarks of BenchmarkInterleaved, in the
// order they are printed.
var interleavedOps = []string{"Put300", "Get300"}

// runInterleaved runs BenchmarkInterleaved of the pass-through build: an
// encrypted and a pass-through deployment in one process, the same
// operation on each in turn, block by block.
func runInterleaved(root string, count int, benchtime string) error {
	fmt.Fprintf(os.Stderr, "kwbench: entries, interleaved, -count %d\n", count)
	rs, err := goTest(root, true, "^BenchmarkInterleaved$", count, benchtime)
	if err != nil {
		return err
	}
	fmt.Printf("Both in one process: `go test -tags %s -run '^$' -bench '^BenchmarkInterleaved$' -count %d -benchtime %s %s`. That build holds an encrypted deployment (AES-256-GCM) and a pass-through one side by side and times the same operation on each in turn, a block at a time (8 puts, 64 gets) in ABBA order, so drift weighs on both alike. Medians of %d runs; the ratio is the median of each run's enc/pt.\n\n",
		passthroughTag, count, benchtime, entriesPkg, count)
	fmt.Println("| op | encrypted ns/op | pass-through ns/op | ratio | ratio min–max | goal | met? |")
	fmt.Println("|---|---:|---:|---:|---|---|---|")
	for _, op := range interleavedOps {
		var runs []benchResult
		for _, r := range rs {
			if r.name == "Interleaved/"+op {
				runs = append(runs, r)
			}
		}
		if len(runs) != count {
			return fmt.Errorf("interleaved %s: %d results, want %d", op, len(runs), count)
		}
		ratios := metric(runs, "enc/pt")
		if len(ratios) != count {
			return fmt.Errorf("interleaved %s: %d results carry enc/pt, want %d: was the benchmark changed?", op, len(ratios), count)
		}
		ratio := report.Median(ratios)
		fmt.Printf("| %s | %.0f | %.0f | %.3f | %.3f–%.3f | ≤ %.2f | %s |\n", op,
			report.Median(metric(runs, "enc-ns/op")), report.Median(metric(runs, "pt-ns/op")),
			ratio, slices.Min(ratios), slices.Max(ratios), entriesGoal, report.YesNo(ratio <= entriesGoal))
	}
	fmt.Println()
	return nil
}

// runTwoBuilds runs BenchmarkPut300 and BenchmarkGet300 in the normal and
// the pass-through build alternately (ABBA order, so that a drift during
// the run weighs on both alike) and prints the median of each.
func runTwoBuilds(root string, rounds, count int, benchtime string) error {
	samples := map[string][]benchResult{} // op/mode -> results
	var ops []string
	for r := range rounds {
		order := []string{modeEncrypted, modePassthrough}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, mode := range order {
			fmt.Fprintf(os.Stderr, "kwbench: entries, two builds, round %d/%d, %s\n", r+1, rounds, mode)
			rs, err := goTest(root, mode == modePassthrough, "^Benchmark(Put|Get)300$", count, benchtime)
			if err != nil {
				return err
			}
			for _, res := range rs {
				op, got, _ := strings.Cut(res.name, "/")
				if got != mode {
					return fmt.Errorf("asked for the %s build, got a result from %s: is the build tag wired?", mode, got)
				}
				if !slices.Contains(ops, op) {
					ops = append(ops, op)
				}
				samples[res.name] = append(samples[res.name], res)
			}
		}
	}
	fmt.Printf("Two builds, one after the other: `go test -run '^$' -bench '^Benchmark(Put|Get)300$' -count %d -benchtime %s %s`, with and without `-tags %s`, alternately, %d rounds; medians of %d samples per cell. Each process has one deployment; the machine's drift between processes (single runs of the same build differ by up to 30 %%) weighs on this ratio.\n\n",
		count, benchtime, entriesPkg, passthroughTag, rounds, rounds*count)
	fmt.Println("| op | encrypted ns/op | pass-through ns/op | ratio of medians | encrypted min–max | pass-through min–max |")
	fmt.Println("|---|---:|---:|---:|---|---|")
	var notes []string
	for _, op := range ops {
		enc, pt := samples[op+"/"+modeEncrypted], samples[op+"/"+modePassthrough]
		if len(enc) == 0 || len(pt) == 0 {
			return fmt.Errorf("%s: missing results (%d encrypted, %d pass-through)", op, len(enc), len(pt))
		}
		encNs, ptNs := metric(enc, "ns/op"), metric(pt, "ns/op")
		fmt.Printf("| %s | %.0f | %.0f | %.3f | %.0f–%.0f | %.0f–%.0f |\n", op, report.Median(encNs), report.Median(ptNs),
			report.Median(encNs)/report.Median(ptNs), slices.Min(encNs), slices.Max(encNs), slices.Min(ptNs), slices.Max(ptNs))
		notes = append(notes, fmt.Sprintf("%s: encrypted %.0f B/op, %.0f allocs/op; pass-through %.0f B/op, %.0f allocs/op",
			op, report.Median(metric(enc, "B/op")), report.Median(metric(enc, "allocs/op")),
			report.Median(metric(pt, "B/op")), report.Median(metric(pt, "allocs/op"))))
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	return nil
}

// metric returns the value of unit in every result that has it.
func metric(rs []benchResult, unit string) []float64 {
	var out []float64
	for _, r := range rs {
		if v, ok := r.metrics[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}
