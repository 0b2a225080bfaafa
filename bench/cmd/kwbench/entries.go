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

// benchLine matches one result line of BenchmarkX/mode, e.g.
// "BenchmarkPut300/encrypted-2  1705  1377077 ns/op  6104 B/op  129 allocs/op".
var benchLine = regexp.MustCompile(`^Benchmark(\w+)/(\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

// benchResult is one result line.
type benchResult struct {
	op, mode      string
	ns, b, allocs float64
}

// parseBench returns the result lines of go test -bench output.
func parseBench(out []byte) []benchResult {
	var rs []benchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		r := benchResult{op: m[1], mode: m[2]}
		r.ns, _ = strconv.ParseFloat(m[3], 64)
		r.b, _ = strconv.ParseFloat(m[4], 64)
		r.allocs, _ = strconv.ParseFloat(m[5], 64)
		rs = append(rs, r)
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

// goTestBench runs the entries benchmarks once in one build and checks
// that every result line comes from that build.
func goTestBench(root, mode string, count int, benchtime string) ([]benchResult, error) {
	args := []string{"test", "-run", "^$", "-bench", ".", "-count", strconv.Itoa(count), "-benchtime", benchtime}
	if mode == modePassthrough {
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
	for _, r := range rs {
		if r.mode != mode {
			return nil, fmt.Errorf("asked for the %s build, got a result from %s: is the build tag wired?", mode, r.mode)
		}
	}
	return rs, nil
}

// runEntries runs both builds alternately (ABBA order, so that a drift
// during the run weighs on both alike) and prints the median of each.
func runEntries(rounds, count int, benchtime string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	fmt.Printf("\n## Entries: 300-byte put/get through the library on SQLite\n\n")
	fmt.Printf("`go test -run '^$' -bench . -count %d -benchtime %s %s`, with and without `-tags %s`, alternately, %d rounds; medians of %d samples per cell.\n\n",
		count, benchtime, entriesPkg, passthroughTag, rounds, rounds*count)
	samples := map[string][]benchResult{} // op/mode -> results
	var ops []string
	for r := range rounds {
		order := []string{modeEncrypted, modePassthrough}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, mode := range order {
			fmt.Fprintf(os.Stderr, "kwbench: entries round %d/%d, %s\n", r+1, rounds, mode)
			rs, err := goTestBench(root, mode, count, benchtime)
			if err != nil {
				return err
			}
			for _, res := range rs {
				key := res.op + "/" + res.mode
				if !slices.Contains(ops, res.op) {
					ops = append(ops, res.op)
				}
				samples[key] = append(samples[key], res)
			}
		}
	}
	fmt.Println("| op | encrypted ns/op | pass-through ns/op | ratio | goal | met? |")
	fmt.Println("|---|---:|---:|---:|---|---|")
	var notes []string
	for _, op := range ops {
		enc, pt := samples[op+"/"+modeEncrypted], samples[op+"/"+modePassthrough]
		if len(enc) == 0 || len(pt) == 0 {
			return fmt.Errorf("%s: missing results (%d encrypted, %d pass-through)", op, len(enc), len(pt))
		}
		e, p := report.Median(field(enc, nsOf)), report.Median(field(pt, nsOf))
		ratio := e / p
		fmt.Printf("| %s | %.0f | %.0f | %.3f | ≤ %.2f | %s |\n", op, e, p, ratio, entriesGoal, report.YesNo(ratio <= entriesGoal))
		notes = append(notes, fmt.Sprintf("%s: encrypted %.0f B/op, %.0f allocs/op; pass-through %.0f B/op, %.0f allocs/op; ns/op range encrypted %.0f–%.0f, pass-through %.0f–%.0f",
			op, report.Median(field(enc, bOf)), report.Median(field(enc, allocsOf)), report.Median(field(pt, bOf)), report.Median(field(pt, allocsOf)),
			slices.Min(field(enc, nsOf)), slices.Max(field(enc, nsOf)), slices.Min(field(pt, nsOf)), slices.Max(field(pt, nsOf))))
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	return nil
}

func nsOf(r benchResult) float64     { return r.ns }
func bOf(r benchResult) float64      { return r.b }
func allocsOf(r benchResult) float64 { return r.allocs }

func field(rs []benchResult, f func(benchResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}
